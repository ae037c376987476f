/**
 * A form-encoded component (`+` for a space, then %XX escapes): a query parameter, a key of a listing asked
 * with `encoding-type=url`. A malformed escape throws URIError. Pure.
 */
export function decodeFormComponent(text: string): string {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}
