// SPDX-License-Identifier: MIT
//
// fold.ts: the HELLO folded into the upgrade request (runtime/PROTOCOL.md section 3): a
// fresh session's HELLO (no resume token) goes as the query parameter `hello`, the
// `verani.wire.Hello` message's protobuf bytes in base64url (RFC 4648 section 5, no '='
// padding, at most 512 characters), so the server answers WELCOME right after the 101
// without waiting for a frame. A resume's HELLO is never folded: a resume token is never
// written into a URL. Pure string work, no Buffer and no btoa, so it runs the same in
// browsers and Node and is unit-tested without sockets.

/** The longest `hello` value a server accepts (PROTOCOL.md section 3). */
export const FOLDED_HELLO_MAX = 512;

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** `bytes` in base64url (RFC 4648 section 5), without '=' padding. */
export function base64url(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]! + B64URL[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64URL[n >> 18]! + B64URL[(n >> 12) & 63]! + B64URL[(n >> 6) & 63]!;
  }
  return out;
}

/** The parts of a URL around its query: before '?', the query (without '?', undefined when
 *  there is no '?'), and the fragment ('#...' or ""). */
function splitUrl(url: string): { head: string; query: string | undefined; frag: string } {
  const h = url.indexOf("#");
  const frag = h < 0 ? "" : url.slice(h);
  const noFrag = h < 0 ? url : url.slice(0, h);
  const q = noFrag.indexOf("?");
  return q < 0 ? { head: noFrag, query: undefined, frag }
    : { head: noFrag.slice(0, q), query: noFrag.slice(q + 1), frag };
}

/** Whether one `name=value` part of a query is a `hello` parameter (its name percent-decoded,
 *  as the server reads it). */
function isHelloPart(part: string): boolean {
  const eq = part.indexOf("=");
  const raw = (eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, " ");
  let name = raw;
  try {
    name = decodeURIComponent(raw);
  } catch {
    // not percent-encoding: compared as written
  }
  return name === "hello";
}

/** Whether `url`'s query has a `hello` parameter. */
export function hasHelloParam(url: string): boolean {
  const { query } = splitUrl(url);
  return query !== undefined && query.split("&").some(isHelloPart);
}

/**
 * `url` with every `hello` query parameter removed and, when `hello` is given, `hello=<its
 * base64url>` appended to the query ('?' or '&'). Every other parameter stays exactly as
 * written (no re-encoding: `channels=red,blue` keeps its comma), the fragment too.
 */
export function withFoldedHello(url: string, hello?: Uint8Array): string {
  const { head, query, frag } = splitUrl(url);
  let q = query;
  if (q !== undefined && q.split("&").some(isHelloPart)) {
    q = q.split("&").filter((p) => !isHelloPart(p)).join("&") || undefined;
  }
  if (hello) {
    const param = `hello=${base64url(hello)}`;
    q = q === undefined || q === "" ? param : q.endsWith("&") ? q + param : `${q}&${param}`;
  }
  return head + (q === undefined ? "" : `?${q}`) + frag;
}
