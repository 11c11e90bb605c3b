//! Certificate files as operators hand them over (trust anchors, MDS roots): PEM text with one or more
//! `CERTIFICATE` blocks, or one DER certificate. No I/O: the caller reads the file.

/// Why the contents of a certificate file were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateFileError {
    /// The text is not well-formed PEM.
    #[error("is not PEM: {0}")]
    NotPem(String),
    /// The file holds no certificate.
    #[error("holds no certificate")]
    Empty,
    /// A block does not parse as an X.509 certificate.
    #[error("certificate {number} is not X.509")]
    NotX509 {
        /// Its position in the file, from 1.
        number: usize,
    },
}

/// Every certificate of a PEM file, or the one certificate of a DER file, as DER; each must parse as X.509.
///
/// Text is read as PEM (a file that starts with `-----` or whose first 64 bytes are ASCII); anything else is one DER
/// certificate.
pub fn certificates_from_pem_or_der(data: &[u8]) -> Result<Vec<Vec<u8>>, CertificateFileError> {
    let mut out = Vec::new();
    if data.starts_with(b"-----") || data.iter().take(64).all(u8::is_ascii) {
        for pem in x509_parser::pem::Pem::iter_from_buffer(data) {
            let pem = pem.map_err(|e| CertificateFileError::NotPem(e.to_string()))?;
            out.push(pem.contents);
        }
    } else {
        out.push(data.to_vec());
    }
    if out.is_empty() {
        return Err(CertificateFileError::Empty);
    }
    for (i, der) in out.iter().enumerate() {
        if x509_parser::parse_x509_certificate(der).is_err() {
            return Err(CertificateFileError::NotX509 { number: i + 1 });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh self-signed certificate: (PEM, DER).
    fn certificate() -> (String, Vec<u8>) {
        let made =
            rcgen::generate_simple_self_signed(vec!["root.example".into()]).expect("certificate");
        (made.cert.pem(), made.cert.der().to_vec())
    }

    #[test]
    fn pem_with_two_certificates_and_der_are_read() {
        let ((a_pem, a_der), (b_pem, b_der)) = (certificate(), certificate());
        let text = format!("{a_pem}{b_pem}");
        let read = certificates_from_pem_or_der(text.as_bytes()).expect("pem");
        assert_eq!(read, vec![a_der.clone(), b_der]);
        let read = certificates_from_pem_or_der(&a_der).expect("der");
        assert_eq!(read, vec![a_der]);
    }

    #[test]
    fn empty_text_broken_pem_and_non_certificates_are_refused() {
        assert_eq!(
            certificates_from_pem_or_der(b"no certificate here\n"),
            Err(CertificateFileError::Empty)
        );
        assert!(matches!(
            certificates_from_pem_or_der(
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
            ),
            Err(CertificateFileError::NotPem(_))
        ));
        let not_x509 = "-----BEGIN CERTIFICATE-----\nAAECAw==\n-----END CERTIFICATE-----\n";
        let text = format!("{}{not_x509}", certificate().0);
        assert_eq!(
            certificates_from_pem_or_der(text.as_bytes()),
            Err(CertificateFileError::NotX509 { number: 2 })
        );
        assert_eq!(
            certificates_from_pem_or_der(&[0x80, 0x01, 0x02]),
            Err(CertificateFileError::NotX509 { number: 1 })
        );
    }
}
