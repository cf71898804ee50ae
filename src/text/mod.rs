//! Text in, tokens out: normalisation and tokenization with code-point spans.
//!
//! Everything downstream (features, quotation extraction) sees the same tokens, so a
//! quotation scored through the gRPC API and the same quotation found in an article give
//! the same features.

mod normalize;
mod tokenize;

pub use normalize::{Normalized, fold_char, is_blank, normalize, normalize_into, normalize_str};
pub use tokenize::{Token, TokenBuf, TokenKind, tokenize, tokenize_normalized};
