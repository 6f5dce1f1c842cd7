package natsproto

// Text is a string or a byte slice. Encoders and validators accept both
// so callers holding either can use them without converting.
type Text interface{ ~string | ~[]byte }
