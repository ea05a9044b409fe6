// Text from GitHub is untrusted input to the agent: HTML comments (invisible on GitHub, visible to
// the model) and invisible or direction-changing characters are the usual carriers of hidden
// instructions, so they are removed before any of it reaches a prompt. Pure.

const INVISIBLE =
  // zero-width and joiners, bidi marks and embeddings/isolates, word joiner etc., BOM, tag characters
  /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u00AD]|[\u{E0000}-\u{E007F}]/gu;

export function sanitizeForPrompt(text: string | null | undefined): string {
  if (!text) return "";
  return text
    .replace(/\r\n?/g, "\n")
    .replace(/<!--[\s\S]*?(?:-->|$)/g, "")
    .replace(INVISIBLE, "")
    .trim();
}
