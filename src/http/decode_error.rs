//! Why a request's fields could not be read: the error of the body
//! decoders (`body`, `urlencoded`), with the HTTP status it is answered
//! with. Its own file so both decoders import it and not each other.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid percent-encoding in a form field")]
    Percent,
    #[error("form data is not valid UTF-8")]
    Utf8,
    #[error("JSON body is not valid JSON")]
    Json,
    #[error("JSON body must be a flat object of strings, numbers, booleans or nulls")]
    JsonShape,
    #[error("multipart body is malformed: {0}")]
    Multipart(String),
    #[error("unsupported Content-Type {0:?}; use form, multipart or JSON")]
    ContentType(String),
    #[error("more than {0} fields posted (server.max_fields)")]
    TooManyFields(usize),
}

impl DecodeError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            DecodeError::TooManyFields(_) => 413,
            _ => 400,
        }
    }
}
