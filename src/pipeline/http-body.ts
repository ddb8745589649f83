// pipeline/http-body.ts decides how much of a non-MCP HTTP answer goes into a message. An error
// page pasted whole (`HTTP 404 on POST: <!DOCTYPE html> …`) filled health's Notes, --json and every
// alert; a summary names what it was: content type, size, and the page's <title> or first line.
// A short plain-text or JSON body is its own best summary and is kept as one line.

const KEEP_CHARS = 160;

function flat(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function clip(s: string, n = KEEP_CHARS): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function decodeEntities(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&nbsp;/g, ' ').replace(/&amp;/g, '&');
}

/**
 * One line about a response body. `body` is the first `limit` bytes that were read; when it filled
 * them the size is a lower bound.
 */
export function describeBody(contentType: string | null, body: string, limit = Infinity): string {
  if (body.trim() === '') return '';
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const html = type === 'text/html' || type === 'application/xhtml+xml' || /^\s*(<!doctype html|<html|<head|<body)/i.test(body);
  if (!html) {
    const line = flat(body);
    if (line.length <= KEEP_CHARS && !body.trim().includes('\n')) return line;
  }
  const bytes = Buffer.byteLength(body);
  const size = bytes >= limit ? `over ${limit} bytes` : `${bytes} bytes`;
  let what: string | undefined;
  if (html) {
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(body)?.[1];
    if (title && flat(title)) what = `"${clip(decodeEntities(flat(title)), 80)}"`;
    else {
      const text = flat(decodeEntities(body.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, '\n')).split('\n').find((l) => l.trim() !== '') ?? '');
      if (text) what = `"${clip(text, 80)}"`;
    }
  } else {
    const first = body.split('\n').map((l) => l.trim()).find((l) => l !== '');
    if (first) what = `"${clip(flat(first), 80)}"`;
  }
  return `${type || 'no content-type'}, ${size}${what ? `, ${what}` : ''}`;
}
