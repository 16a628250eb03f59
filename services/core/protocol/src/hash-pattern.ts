/** A content hash as the documents carry it: `sha256:` and 64 lowercase hex digits. */
export const HASH_PATTERN = /^sha256:[0-9a-f]{64}$/
