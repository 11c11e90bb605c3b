//! A minimal, bounds-checked DER reader for the few structures x509-parser does not decode for us (the Android key
//! description, the Apple nonce extension, RSA-PSS parameters, the AAGUID extension).

/// Tag class of a DER element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Universal,
    Application,
    Context,
    Private,
}

/// One decoded TLV element.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub class: Class,
    pub constructed: bool,
    pub number: u32,
    pub content: &'a [u8],
}

impl Tlv<'_> {
    /// Whether this is the universal element with the given tag number.
    pub fn is_universal(&self, number: u32) -> bool {
        self.class == Class::Universal && self.number == number
    }
}

pub(crate) const INTEGER: u32 = 2;
pub(crate) const OCTET_STRING: u32 = 4;
pub(crate) const OID: u32 = 6;
pub(crate) const SEQUENCE: u32 = 16;
pub(crate) const SET: u32 = 17;

/// Reads one element from the front of `input`, returning it and the remaining bytes. `None` on any malformation.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&first, mut rest) = input.split_first()?;
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let mut number = u32::from(first & 0x1f);
    if number == 0x1f {
        number = 0;
        loop {
            let (&b, r) = rest.split_first()?;
            rest = r;
            if number > (u32::MAX >> 7) {
                return None;
            }
            number = (number << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&len0, r) = rest.split_first()?;
    rest = r;
    let len = if len0 < 0x80 {
        usize::from(len0)
    } else {
        let count = usize::from(len0 & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, r) = rest.split_at_checked(count)?;
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((
        Tlv {
            class,
            constructed,
            number,
            content,
        },
        rest,
    ))
}

/// Reads exactly one element that fills `input`.
pub(crate) fn read_all(input: &[u8]) -> Option<Tlv<'_>> {
    match read(input)? {
        (tlv, []) => Some(tlv),
        _ => None,
    }
}

/// Iterates over the elements of a constructed element's content.
pub(crate) fn children(content: &[u8]) -> Children<'_> {
    Children {
        rest: content,
        failed: false,
    }
}

/// Iterator over consecutive TLVs; yields `Err(())` once if the content is malformed.
pub(crate) struct Children<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Children<'a> {
    type Item = Result<Tlv<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match read(self.rest) {
            Some((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            None => {
                self.failed = true;
                Some(Err(()))
            }
        }
    }
}

/// Decodes a small non-negative DER INTEGER or ENUMERATED content.
pub(crate) fn small_uint(content: &[u8]) -> Option<u64> {
    if content.is_empty() || content.len() > 9 || content[0] & 0x80 != 0 {
        return None;
    }
    let trimmed = match content {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    if trimmed.len() > 8 {
        return None;
    }
    Some(
        trimmed
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_high_tag_numbers_and_long_lengths() {
        // [702] EXPLICIT INTEGER 0, as in the Android key description's `origin`.
        let bytes = [0xbf, 0x85, 0x3e, 0x03, 0x02, 0x01, 0x00];
        let (tlv, rest) = read(&bytes).expect("valid");
        assert!(rest.is_empty());
        assert_eq!(tlv.class, Class::Context);
        assert_eq!(tlv.number, 702);
        let inner = read_all(tlv.content).expect("inner");
        assert!(inner.is_universal(INTEGER));
        assert_eq!(small_uint(inner.content), Some(0));
    }

    #[test]
    fn refuses_truncated_input() {
        assert!(read(&[0x30, 0x05, 0x01]).is_none());
        assert!(read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(read(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]).is_none());
        assert!(read(&[]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = read(&bytes);
            let _ = read_all(&bytes);
            for tlv in children(&bytes).flatten() {
                let _ = small_uint(tlv.content);
                let _ = children(tlv.content).count();
            }
        }
    }
}
