// logic.js: the app's pure functions (no DOM), unit-tested with node --test
// (logic.test.mjs) and used by app.js.

/** Seconds as m:ss.s (or h:mm:ss.s). */
export function fmtTime(sec) {
  if (!Number.isFinite(sec) || sec < 0) return "–";
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec % 3600) / 60);
  const s = sec % 60;
  const ss = s.toFixed(1).padStart(4, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Bytes in the largest unit that keeps the number below 1024. */
export function fmtBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/**
 * A matched line as segments to render as text or <mark>: marks are byte
 * ranges [start, end) of the UTF-8 text (as the API sends them).
 */
export function markSegments(text, marks) {
  const bytes = new TextEncoder().encode(text);
  const dec = new TextDecoder();
  const out = [];
  let at = 0;
  for (const [s, e] of [...(marks || [])].sort((a, b) => a[0] - b[0])) {
    if (s < at || e > bytes.length || e <= s) continue;
    if (s > at) out.push({ text: dec.decode(bytes.subarray(at, s)), mark: false });
    out.push({ text: dec.decode(bytes.subarray(s, e)), mark: true });
    at = e;
  }
  if (at < bytes.length) out.push({ text: dec.decode(bytes.subarray(at)), mark: false });
  return out;
}

/** "brand=acme, region=eu" as {brand: "acme", region: "eu"}; throws on a bad pair. */
export function parseFilters(s) {
  const out = {};
  for (const part of (s || "").split(",")) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf("=");
    if (i <= 0) throw new Error(`filter "${p}" is not key=value`);
    out[p.slice(0, i).trim()] = p.slice(i + 1).trim();
  }
  return out;
}

/** One concept per line, trimmed, blank lines and repeats left out. */
export function parseConcepts(s) {
  const seen = new Set();
  const out = [];
  for (const line of (s || "").split(/\r?\n/)) {
    const t = line.trim();
    if (t && !seen.has(t.toLowerCase())) {
      seen.add(t.toLowerCase());
      out.push(t);
    }
  }
  return out;
}

function csvField(v) {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * A concept board as CSV: one row per concept with collection "*" for its
 * total, then one per collection (the columns `scenedex concepts --csv` prints).
 */
export function conceptsCSV(res) {
  const rows = [["concept", "kind", "collection", "count", "capped", "threshold"]];
  for (const c of res.concepts || []) {
    const capped = String(!!c.capped);
    rows.push([c.label, c.kind, "*", c.count, capped, res.threshold]);
    for (const col of Object.keys(c.by_collection || {}).sort()) {
      rows.push([c.label, c.kind, col, c.by_collection[col], capped, res.threshold]);
    }
  }
  return rows.map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** What a video's progress bar shows: {value, max, label}; max 0 = indeterminate. */
export function progressOf(v) {
  switch (v.status) {
    case "READY":
      return { value: 1, max: 1, label: `ready · ${v.chunks_total} scenes` };
    case "FAILED":
      return { value: 0, max: 1, label: "failed" };
    case "UPLOADING":
      return { value: 0, max: 0, label: v.stage || "awaiting upload" };
    case "DELETING":
      return { value: 0, max: 0, label: "deleting" };
  }
  if (v.chunks_total > 0) {
    const pct = Math.floor((100 * v.chunks_done) / v.chunks_total);
    return { value: v.chunks_done, max: v.chunks_total, label: `${v.stage || "processing"} ${v.chunks_done}/${v.chunks_total} (${pct}%)` };
  }
  return { value: 0, max: 0, label: v.stage || "processing" };
}

/** The library's model line from GET /v1/reindex: the live model, and a switch under way with its progress. */
export function modelLine(st) {
  const live = st.model || "none recorded yet";
  const sw = st.switch;
  if (!sw) return `Model: ${live}`;
  const pct = sw.total > 0 ? Math.floor((100 * sw.done) / sw.total) : 0;
  return `Model: ${live} · switching to ${sw.to}: ${sw.done}/${sw.total} scenes re-embedded (${pct}%); search answers with ${live} until all are`;
}

/** Whether no step will change the status again. */
export const isFinal = (status) => status === "READY" || status === "FAILED";

/** Runs fn over items with at most n at a time; resolves to the results in order, rejects on the first error. */
export async function pool(items, n, fn) {
  const results = new Array(items.length);
  let next = 0;
  let failed = null;
  async function worker() {
    while (failed === null && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (e) {
        failed = failed ?? e;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== null) throw failed;
  return results;
}

const videoExt = /\.(mp4|m4v|mov|qt|mkv|webm|avi|mpg|mpeg|ts|m2ts|mts|3gp|flv|wmv|ogv|mxf|gif)$/i;

/** Why a dropped file will not be uploaded, or "" when it can be. */
export function refusal(file) {
  if (file.size === 0) return `${file.name} is empty: not a video`;
  const t = file.type || "";
  if (t.startsWith("video/") || t === "image/gif" || videoExt.test(file.name)) return "";
  return `${file.name} is not a video (${t || "unknown type"}): scenedex takes video files and animated GIFs`;
}

/** The message of an API error body, else the status. */
export function errorMessage(status, body) {
  const e = body && body.error;
  if (e && e.message) return `${e.message} (${e.code}, HTTP ${status})`;
  return `HTTP ${status}`;
}

// ---- sign-in (the cloud: Cognito's hosted UI, authorization code + PKCE) ----

function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A PKCE code verifier: 32 random bytes, base64url (43 characters). */
export function newVerifier() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The S256 code challenge of a verifier (RFC 7636). */
export async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** Where the browser goes to sign in: auth is {domain, clientId, redirect}. */
export function authorizeURL(auth, challenge, state) {
  const q = new URLSearchParams({
    response_type: "code", client_id: auth.clientId, redirect_uri: auth.redirect, scope: "openid email",
    code_challenge: challenge, code_challenge_method: "S256", state,
  });
  return `${auth.domain}/oauth2/authorize?${q}`;
}

/** The form body that trades the code for tokens. */
export function tokenRequest(auth, code, verifier) {
  return new URLSearchParams({ grant_type: "authorization_code", client_id: auth.clientId, code, redirect_uri: auth.redirect, code_verifier: verifier });
}

/** Where signing out goes. */
export function logoutURL(auth) {
  return `${auth.domain}/logout?${new URLSearchParams({ client_id: auth.clientId, logout_uri: auth.redirect })}`;
}
