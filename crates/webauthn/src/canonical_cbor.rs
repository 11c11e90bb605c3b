//! A strict well-formedness and CTAP2-canonical check over raw CBOR bytes, run before an authenticator's CBOR
//! (attestation object, credential public key, authenticator extension outputs) is decoded.
//!
//! CTAP 2.1 §8 "Message Encoding" ("CTAP2 canonical CBOR encoding form") requires of authenticators: integers and the
//! lengths of strings, arrays and maps encoded as short as possible; no indefinite lengths; map keys sorted (major type
//! first, then shorter encoding first, then byte-wise lexical order), which also rules out duplicate keys; no tags.
//!
//! This pass is hand-written because no maintained crate checks that form: ciborium and coset decode indefinite
//! lengths, long encodings and any key order without saying so, and decoders that check RFC 8949 "deterministic"
//! encoding use a different key order (byte-wise only). It reads each data item's head once, never allocates, and
//! bounds nesting, so any input (however hostile) costs at most one pass over its bytes.

use std::cmp::Ordering;
use std::fmt;

use crate::error::WebauthnError;

/// How deeply arrays and maps may nest (CTAP2 messages use at most four levels; the decoder allows sixteen).
pub const MAX_DEPTH: usize = 16;

/// Which CTAP2 canonical-form rule the bytes break (or that they are not CBOR at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalRule {
    /// An indefinite-length string, array or map.
    IndefiniteLength,
    /// An integer, a length or a simple value encoded with more bytes than its value needs.
    NonMinimalEncoding,
    /// A map whose keys are not in canonical order.
    MapKeysUnsorted,
    /// A map with the same key twice.
    DuplicateMapKey,
    /// A tagged item (CTAP2 allows no tags).
    TagPresent,
    /// Not well-formed CBOR: truncated, a reserved header value, a stray "break", bad UTF-8, nesting too deep.
    Malformed(&'static str),
}

impl CanonicalRule {
    /// A short description, for messages.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::IndefiniteLength => "an indefinite-length item",
            Self::NonMinimalEncoding => "a value or length encoded in more bytes than needed",
            Self::MapKeysUnsorted => "map keys out of canonical order",
            Self::DuplicateMapKey => "a duplicate map key",
            Self::TagPresent => "a tag",
            Self::Malformed(reason) => reason,
        }
    }
}

/// Where in the bytes a rule is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonicalViolation {
    /// The rule.
    pub rule: CanonicalRule,
    /// Byte offset of the offending item's head.
    pub offset: usize,
}

impl fmt::Display for CanonicalViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.rule.describe(), self.offset)
    }
}

/// Checks the one CBOR data item at the front of `bytes` (bytes after it are not looked at) and returns its length.
///
/// # Errors
/// The first [`CanonicalViolation`] found, in encoding order.
pub fn check_prefix(bytes: &[u8]) -> Result<usize, CanonicalViolation> {
    let mut reader = Reader { bytes, pos: 0 };
    reader.item(0)?;
    Ok(reader.pos)
}

/// [`check_prefix`] for an attestation object, with the one deviation a real authenticator in the test vectors needs.
///
/// The Feitian BioPass FIDO2 USB registration in go-webauthn's `packedTestResponseES256` (attestation certificate
/// "FT BioPass FIDO2 USB", issued by "Feitian FIDO2 CA-1") has its attestation object's three members in the order
/// `fmt`, `authData`, `attStmt`: the member order of the CTAP2 `authenticatorMakeCredential` response (keys 1, 2, 3),
/// where canonical order puts `attStmt` (7 bytes) before `authData` (8). Exactly that order of exactly those three
/// members is accepted; every value in it must still be canonical, and any other order, member or rule is refused.
///
/// # Errors
/// The first [`CanonicalViolation`], as [`check_prefix`] reports it.
pub fn check_attestation_object_prefix(bytes: &[u8]) -> Result<usize, CanonicalViolation> {
    match check_prefix(bytes) {
        Err(violation) if violation.rule == CanonicalRule::MapKeysUnsorted => {
            ctap_member_order(bytes).unwrap_or(Err(violation))
        }
        other => other,
    }
}

/// `Some` when `bytes` starts with the map `{"fmt", "authData", "attStmt"}` in that order: the result of checking
/// each value. `None` for any other shape.
fn ctap_member_order(bytes: &[u8]) -> Option<Result<usize, CanonicalViolation>> {
    const MEMBERS: [&[u8]; 3] = [b"\x63fmt", b"\x68authData", b"\x67attStmt"];
    let mut reader = Reader { bytes, pos: 0 };
    let head = reader.head().ok()?;
    if head.major != MAJOR_MAP || head.argument != 3 {
        return None;
    }
    for member in MEMBERS {
        let key = bytes.get(reader.pos..reader.pos + member.len())?;
        if key != member {
            return None;
        }
        reader.pos += member.len();
        if let Err(violation) = reader.item(1) {
            return Some(Err(violation));
        }
    }
    Some(Ok(reader.pos))
}

/// Checks that `bytes` is exactly one canonical CBOR data item.
///
/// # Errors
/// The first [`CanonicalViolation`]; bytes after the item are [`CanonicalRule::Malformed`].
pub fn check(bytes: &[u8]) -> Result<(), CanonicalViolation> {
    let used = check_prefix(bytes)?;
    if used == bytes.len() {
        Ok(())
    } else {
        Err(CanonicalViolation {
            rule: CanonicalRule::Malformed("bytes after the item"),
            offset: used,
        })
    }
}

/// The authenticator CBOR a check is run on; it names the part in errors and decides which error a malformed
/// (not even well-formed) item becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CborPart {
    /// The attestation object (with its attestation statement).
    AttestationObject,
    /// The credential public key in the attested credential data.
    CredentialPublicKey,
    /// The authenticator extension outputs in authenticator data.
    AuthenticatorExtensions,
}

impl CborPart {
    fn name(self) -> &'static str {
        match self {
            Self::AttestationObject => "attestation object",
            Self::CredentialPublicKey => "credential public key",
            Self::AuthenticatorExtensions => "authenticator extensions",
        }
    }
}

/// [`check_prefix`] (for an attestation object, [`check_attestation_object_prefix`]) with the violation as the part's
/// [`WebauthnError`]: one variant per canonical rule, and the part's own "invalid" variant for bytes that are not CBOR.
pub(crate) fn require_canonical_prefix(
    bytes: &[u8],
    part: CborPart,
) -> Result<usize, WebauthnError> {
    let checked = match part {
        CborPart::AttestationObject => check_attestation_object_prefix(bytes),
        CborPart::CredentialPublicKey | CborPart::AuthenticatorExtensions => check_prefix(bytes),
    };
    checked.map_err(|violation| {
        let (part_name, offset) = (part.name(), violation.offset);
        match violation.rule {
            CanonicalRule::IndefiniteLength => WebauthnError::CborIndefiniteLength {
                part: part_name,
                offset,
            },
            CanonicalRule::NonMinimalEncoding => WebauthnError::CborNonMinimalEncoding {
                part: part_name,
                offset,
            },
            CanonicalRule::MapKeysUnsorted => WebauthnError::CborMapKeysUnsorted {
                part: part_name,
                offset,
            },
            CanonicalRule::DuplicateMapKey => WebauthnError::CborDuplicateMapKey {
                part: part_name,
                offset,
            },
            CanonicalRule::TagPresent => WebauthnError::CborTagPresent {
                part: part_name,
                offset,
            },
            CanonicalRule::Malformed(_) => {
                let message = format!("bad CBOR: {violation}");
                match part {
                    CborPart::AttestationObject => WebauthnError::AttestationObjectInvalid(message),
                    CborPart::CredentialPublicKey => WebauthnError::CoseKeyInvalid(message),
                    CborPart::AuthenticatorExtensions => {
                        WebauthnError::AuthenticatorDataInvalid(format!("extensions: {message}"))
                    }
                }
            }
        }
    })
}

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;

fn violation(rule: CanonicalRule, offset: usize) -> CanonicalViolation {
    CanonicalViolation { rule, offset }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// A data item's head: major type and the argument it encodes.
struct Head {
    major: u8,
    argument: u64,
    offset: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, offset: usize) -> Result<&[u8], CanonicalViolation> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(CanonicalViolation {
                rule: CanonicalRule::Malformed("truncated"),
                offset,
            })?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    /// Reads a head and checks that its argument is minimally encoded.
    fn head(&mut self) -> Result<Head, CanonicalViolation> {
        let offset = self.pos;
        let [initial] = *self.take(1, offset)? else {
            return Err(violation(CanonicalRule::Malformed("truncated"), offset));
        };
        let major = initial >> 5;
        let info = initial & 0x1f;
        let (argument, smallest_for_width) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.take(1, offset)?[0]), 24),
            25 => {
                let b = self.take(2, offset)?;
                (u64::from(u16::from_be_bytes([b[0], b[1]])), 0x100)
            }
            26 => {
                let b = self.take(4, offset)?;
                (
                    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
                    0x1_0000,
                )
            }
            27 => {
                let b = self.take(8, offset)?;
                let mut word = [0u8; 8];
                word.copy_from_slice(b);
                (u64::from_be_bytes(word), 0x1_0000_0000)
            }
            28..=30 => {
                return Err(violation(
                    CanonicalRule::Malformed("a reserved additional-information value"),
                    offset,
                ));
            }
            _ => {
                if matches!(major, MAJOR_BYTES | MAJOR_TEXT | MAJOR_ARRAY | MAJOR_MAP) {
                    return Err(violation(CanonicalRule::IndefiniteLength, offset));
                }
                let reason = if major == MAJOR_SIMPLE {
                    "a \"break\" outside an indefinite-length item"
                } else {
                    "an integer or tag with indefinite length"
                };
                return Err(violation(CanonicalRule::Malformed(reason), offset));
            }
        };
        if major == MAJOR_SIMPLE && info == 24 && argument < 32 {
            // RFC 8949 §3.3: simple values below 32 in the two-byte form are not well-formed.
            return Err(violation(
                CanonicalRule::Malformed("a two-byte simple value below 32"),
                offset,
            ));
        }
        // Floating-point values (major 7, info 25–27) carry their bits, not an argument: any width is well-formed.
        let is_float = major == MAJOR_SIMPLE && info >= 25;
        if !is_float && argument < smallest_for_width {
            return Err(violation(CanonicalRule::NonMinimalEncoding, offset));
        }
        Ok(Head {
            major,
            argument,
            offset,
        })
    }

    fn length(&self, head: &Head) -> Result<usize, CanonicalViolation> {
        usize::try_from(head.argument)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or(CanonicalViolation {
                rule: CanonicalRule::Malformed("a length longer than the input"),
                offset: head.offset,
            })
    }

    fn item(&mut self, depth: usize) -> Result<(), CanonicalViolation> {
        let head = self.head()?;
        match head.major {
            MAJOR_UNSIGNED | MAJOR_NEGATIVE => Ok(()),
            MAJOR_BYTES => {
                let n = self.length(&head)?;
                self.take(n, head.offset).map(|_| ())
            }
            MAJOR_TEXT => {
                let n = self.length(&head)?;
                let text = self.take(n, head.offset)?;
                if std::str::from_utf8(text).is_err() {
                    return Err(violation(
                        CanonicalRule::Malformed("a text string that is not UTF-8"),
                        head.offset,
                    ));
                }
                Ok(())
            }
            MAJOR_ARRAY => {
                let n = self.length(&head)?;
                let depth = Self::deeper(depth, head.offset)?;
                for _ in 0..n {
                    self.item(depth)?;
                }
                Ok(())
            }
            MAJOR_MAP => {
                let n = self.length(&head)?;
                let depth = Self::deeper(depth, head.offset)?;
                let mut previous: Option<(usize, usize)> = None;
                for _ in 0..n {
                    let key_start = self.pos;
                    self.item(depth)?;
                    let key = (key_start, self.pos);
                    if let Some(previous) = previous {
                        match canonical_order(
                            &self.bytes[previous.0..previous.1],
                            &self.bytes[key.0..key.1],
                        ) {
                            Ordering::Less => {}
                            Ordering::Equal => {
                                return Err(violation(CanonicalRule::DuplicateMapKey, key_start));
                            }
                            Ordering::Greater => {
                                return Err(violation(CanonicalRule::MapKeysUnsorted, key_start));
                            }
                        }
                    }
                    previous = Some(key);
                    self.item(depth)?;
                }
                Ok(())
            }
            MAJOR_TAG => Err(violation(CanonicalRule::TagPresent, head.offset)),
            // Simple values and floats.
            _ => Ok(()),
        }
    }

    fn deeper(depth: usize, offset: usize) -> Result<usize, CanonicalViolation> {
        if depth >= MAX_DEPTH {
            Err(violation(
                CanonicalRule::Malformed("nested too deeply"),
                offset,
            ))
        } else {
            Ok(depth + 1)
        }
    }
}

/// CTAP2's key order over two encoded keys: lower major type first, then the shorter encoding, then byte-wise.
fn canonical_order(a: &[u8], b: &[u8]) -> Ordering {
    let major = |k: &[u8]| k.first().map(|b| b >> 5);
    major(a)
        .cmp(&major(b))
        .then(a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(bytes: &[u8]) -> Option<CanonicalRule> {
        check(bytes).err().map(|v| v.rule)
    }

    #[test]
    fn canonical_items_pass() {
        // {1: 2, 3: -7, -1: 1, "a": h'00', "bb": [true, null, 1.5]}
        let bytes = [
            0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x61, b'a', 0x41, 0x00, 0x62, b'b', b'b',
            0x83, 0xf5, 0xf6, 0xf9, 0x3e, 0x00,
        ];
        assert_eq!(check(&bytes), Ok(()));
        assert_eq!(check(&[0x18, 24]), Ok(()));
        assert_eq!(check(&[0x19, 0x01, 0x00]), Ok(()));
    }

    #[test]
    fn each_rule_is_named() {
        assert_eq!(
            rule(&[0x5f, 0x41, 0x00, 0xff]),
            Some(CanonicalRule::IndefiniteLength)
        );
        assert_eq!(rule(&[0x18, 23]), Some(CanonicalRule::NonMinimalEncoding));
        assert_eq!(
            rule(&[0x39, 0x00, 0x10]),
            Some(CanonicalRule::NonMinimalEncoding)
        );
        assert_eq!(
            rule(&[0x58, 0x01, 0x00]),
            Some(CanonicalRule::NonMinimalEncoding)
        );
        assert_eq!(
            rule(&[0xa2, 0x03, 0x00, 0x01, 0x00]),
            Some(CanonicalRule::MapKeysUnsorted)
        );
        assert_eq!(
            rule(&[0xa2, 0x01, 0x00, 0x01, 0x00]),
            Some(CanonicalRule::DuplicateMapKey)
        );
        assert_eq!(rule(&[0xc2, 0x41, 0x01]), Some(CanonicalRule::TagPresent));
        assert!(matches!(rule(&[0xff]), Some(CanonicalRule::Malformed(_))));
        assert!(matches!(rule(&[0x1c]), Some(CanonicalRule::Malformed(_))));
        assert!(matches!(
            rule(&[0x42, 0x00]),
            Some(CanonicalRule::Malformed(_))
        ));
        assert!(matches!(
            rule(&[0x61, 0xff]),
            Some(CanonicalRule::Malformed(_))
        ));
        assert!(matches!(
            rule(&[0xf8, 0x10]),
            Some(CanonicalRule::Malformed(_))
        ));
    }

    #[test]
    fn key_order_is_length_first_not_bytewise() {
        // Integers: 23 (0x17) before 24 (0x18 0x18), 255 (0x18 0xff) before 256 (0x19 0x01 0x00).
        assert_eq!(check(&[0xa2, 0x17, 0xf6, 0x18, 0x18, 0xf6]), Ok(()));
        assert_eq!(
            check(&[0xa2, 0x18, 0xff, 0xf6, 0x19, 0x01, 0x00, 0xf6]),
            Ok(())
        );
        // Text keys: the shorter first whatever its bytes ("z" before "aa"), as "fmt" < "attStmt" < "authData"
        // in an attestation object; a byte-wise (RFC 8949 deterministic) order would put "aa" first.
        let ok = [0xa2, 0x61, b'z', 0xf6, 0x62, b'a', b'a', 0xf6];
        assert_eq!(check(&ok), Ok(()));
        let swapped = [0xa2, 0x62, b'a', b'a', 0xf6, 0x61, b'z', 0xf6];
        assert_eq!(rule(&swapped), Some(CanonicalRule::MapKeysUnsorted));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = vec![0x81; MAX_DEPTH + 1];
        deep.push(0x00);
        assert!(matches!(rule(&deep), Some(CanonicalRule::Malformed(_))));
        let mut ok = vec![0x81; MAX_DEPTH];
        ok.push(0x00);
        assert_eq!(check(&ok), Ok(()));
    }

    #[test]
    fn a_huge_declared_length_is_malformed_not_an_allocation() {
        let bytes = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(rule(&bytes), Some(CanonicalRule::Malformed(_))));
    }
}
