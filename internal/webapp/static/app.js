// app.js: the scenedex web app (no build step, no external resources).
import * as L from "./logic.js";

const $ = (sel, el = document) => el.querySelector(sel);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};

let config = { api: "" }; // + auth: {domain, clientId, redirect} in the cloud
let token = sessionStorage.getItem("scenedex-token") || "";
if (Number(sessionStorage.getItem("scenedex-token-expires") || Infinity) < Date.now()) token = "";
const uploads = new Map(); // video id -> <li> of an upload made here

function say(msg) {
  $("#status").textContent = msg;
}

// ---- API ---------------------------------------------------------------

class APIError extends Error {}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(config.api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (resp.status === 401) showSignin();
  if (!resp.ok) throw new APIError(L.errorMessage(resp.status, data));
  return data;
}

function showSignin() {
  if (config.auth) {
    token = "";
    sessionStorage.removeItem("scenedex-token");
    $("#signin-cloud").hidden = false;
    $("#signin-go").focus();
    return;
  }
  const f = $("#signin");
  if (!f.hidden) return;
  f.hidden = false;
  $("#token").focus();
}

$("#signin").addEventListener("submit", (e) => {
  e.preventDefault();
  token = $("#token").value.trim();
  sessionStorage.setItem("scenedex-token", token);
  $("#signin").hidden = true;
  $("#signout").hidden = false;
  refreshLibrary();
});

// The cloud: Cognito's hosted UI with the authorization code and PKCE.
async function signIn() {
  const verifier = L.newVerifier();
  const state = L.newVerifier();
  sessionStorage.setItem("scenedex-pkce", JSON.stringify({ verifier, state }));
  location.assign(L.authorizeURL(config.auth, await L.challengeOf(verifier), state));
}

// finishSignIn trades the code the hosted UI sent back for tokens.
async function finishSignIn() {
  const q = new URLSearchParams(location.search);
  if (!q.has("code") && !q.has("error")) return;
  history.replaceState(null, "", location.pathname + location.hash);
  const pkce = JSON.parse(sessionStorage.getItem("scenedex-pkce") || "{}");
  sessionStorage.removeItem("scenedex-pkce");
  if (q.has("error")) throw new Error(`sign-in failed: ${q.get("error_description") || q.get("error")}`);
  if (!pkce.state || q.get("state") !== pkce.state) throw new Error("sign-in failed: the answer does not belong to this tab's request (state)");
  const resp = await fetch(`${config.auth.domain}/oauth2/token`, {
    method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: L.tokenRequest(config.auth, q.get("code"), pkce.verifier),
  });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok || !body.access_token) throw new Error(`sign-in failed: ${body.error || `HTTP ${resp.status}`}`);
  token = body.access_token;
  sessionStorage.setItem("scenedex-token", token);
  sessionStorage.setItem("scenedex-token-expires", String(Date.now() + 1000 * (Number(body.expires_in) || 3600) - 30000));
}

function signOut() {
  sessionStorage.removeItem("scenedex-token");
  sessionStorage.removeItem("scenedex-token-expires");
  token = "";
  if (config.auth) location.assign(L.logoutURL(config.auth));
  else location.reload();
}

// ---- sections ------------------------------------------------------------

function show() {
  const tab = (location.hash || "#library").slice(1);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== tab;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}
window.addEventListener("hashchange", show);

function dropTarget(zone, onFiles) {
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    onFiles([...e.dataTransfer.files]);
  });
}

// ---- library ---------------------------------------------------------------

let libraryTimer = null;

async function refreshLibrary() {
  clearTimeout(libraryTimer);
  let busy = uploads.size > 0;
  try {
    const c = $("#lib-collection").value.trim();
    const page = await api("GET", `/v1/videos?limit=200${c ? `&collection=${encodeURIComponent(c)}` : ""}`);
    renderVideos(page.videos);
    busy = busy || page.videos.some((v) => !L.isFinal(v.status));
  } catch (e) {
    say(e.message);
  }
  busy = (await refreshModel()) || busy;
  libraryTimer = setTimeout(refreshLibrary, busy ? 1000 : 5000);
}

// refreshModel shows the live model and a model switch's progress; it says
// whether a switch is under way. Where the API does not give it to the app
// (the cloud keeps it for operators), the line stays hidden.
async function refreshModel() {
  const line = $("#model-status");
  try {
    const st = await api("GET", "/v1/reindex");
    line.textContent = L.modelLine(st);
    line.hidden = false;
    return Boolean(st.switch);
  } catch {
    line.hidden = true;
    return false;
  }
}

function renderVideos(videos) {
  const body = $("#videos tbody");
  body.replaceChildren(...videos.map(videoRow));
  $("#videos-empty").hidden = videos.length > 0;
  for (const v of videos) {
    const li = uploads.get(v.id);
    if (!li) continue;
    const p = L.progressOf(v);
    $(".state", li).textContent = v.status === "FAILED" ? `failed: ${v.reason}` : p.label;
    if (L.isFinal(v.status)) uploads.delete(v.id);
  }
}

function videoRow(v) {
  const p = L.progressOf(v);
  const bar = el("progress", { value: p.value, max: p.max || 1, "aria-label": `${v.filename}: ${p.label}` });
  if (p.max === 0) bar.removeAttribute("value"); // indeterminate
  const actions = el("td");
  if (v.status === "FAILED") {
    actions.append(el("button", { type: "button", onclick: () => act(() => api("POST", `/v1/videos/${v.id}/reprocess`, {})) }, "Reprocess"), " ");
  }
  const del = el("button", { type: "button", "aria-label": `Delete ${v.filename}` }, "Delete");
  del.addEventListener("click", () => {
    if (del.dataset.armed) return act(() => api("DELETE", `/v1/videos/${v.id}`));
    del.dataset.armed = "1";
    del.textContent = "Really delete?";
    setTimeout(() => {
      delete del.dataset.armed;
      del.textContent = "Delete";
    }, 4000);
  });
  actions.append(del);
  const meta = Object.entries(v.metadata || {}).map(([k, val]) => `${k}=${val}`).join(", ");
  return el(
    "tr",
    { "data-id": v.id },
    el("td", {}, v.filename, el("br"), el("small", {}, v.id)),
    el("td", {}, v.collection),
    el("td", {}, el("span", { class: `status-${v.status}` }, v.status), v.reason ? el("div", { class: "reason" }, v.reason) : null),
    el("td", {}, bar, " ", el("span", { class: "progress-label" }, p.label)),
    el("td", {}, v.duration_seconds ? L.fmtTime(v.duration_seconds) : "–"),
    el("td", {}, meta),
    actions,
  );
}

async function act(fn) {
  try {
    await fn();
  } catch (e) {
    say(e.message);
  }
  refreshLibrary();
}

// ---- upload ----------------------------------------------------------------

function s3Message(xml) {
  const m = /<Message>([^<]*)<\/Message>/.exec(xml || "");
  return m ? m[1] : (xml || "").slice(0, 200);
}

function put(url, blob, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    for (const [k, v] of Object.entries(headers || {})) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => onProgress(e.loaded);
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) return resolve(x.getResponseHeader("ETag"));
      const err = new Error(`storage refused the upload (HTTP ${x.status}): ${s3Message(x.responseText)}`);
      err.status = x.status;
      reject(err);
    };
    x.onerror = () => reject(new Error("network error while uploading"));
    x.send(blob);
  });
}

async function uploadFile(file, collection, metadata) {
  const bar = el("progress", { max: file.size, value: 0, "aria-label": `uploading ${file.name}` });
  const state = el("span", { class: "state" }, "starting");
  const li = el("li", {}, `${file.name} (${L.fmtBytes(file.size)}) `, bar, " ", state);
  $("#uploads").prepend(li);
  const refused = L.refusal(file);
  if (refused) {
    bar.remove();
    state.textContent = refused;
    li.classList.add("error");
    return;
  }
  try {
    const created = await api("POST", "/v1/videos", { filename: file.name, size: file.size, content_type: file.type || "", collection, metadata });
    const up = created.upload;
    li.dataset.id = created.video.id;
    state.textContent = "uploading";
    if (!up.parts || up.parts.length === 0) {
      await put(up.url, file, up.headers, (n) => (bar.value = n));
    } else {
      const sent = new Array(up.parts.length).fill(0);
      const progress = (i) => (n) => {
        sent[i] = n;
        bar.value = sent.reduce((a, b) => a + b, 0);
      };
      const parts = await L.pool(up.parts, 4, async (p, i) => {
        const blob = file.slice(p.offset, p.offset + p.size);
        let etag;
        try {
          etag = await put(p.url, blob, {}, progress(i));
        } catch (e) {
          if (e.status !== 403 || !up.parts_url) throw e;
          // The part's URL died (expired, or its signing session ended): sign it again.
          const fresh = await api("POST", up.parts_url, { parts: [p.number] });
          etag = await put(fresh.parts[0].url, blob, {}, progress(i));
        }
        if (!etag) throw new Error("the storage did not expose the part's ETag (its CORS must expose ETag)");
        return { number: p.number, etag };
      });
      state.textContent = "completing";
      await api("POST", up.complete_url, { parts });
    }
    bar.value = file.size;
    state.textContent = "uploaded · processing";
    uploads.set(created.video.id, li);
    refreshLibrary();
  } catch (e) {
    state.textContent = e.message;
    li.classList.add("error");
  }
}

function startUploads(files) {
  let metadata;
  try {
    metadata = L.parseFilters($("#up-metadata").value);
  } catch (e) {
    say(`metadata: ${e.message}`);
    return;
  }
  const collection = $("#up-collection").value.trim();
  for (const f of files) uploadFile(f, collection, metadata);
}

// ---- search ----------------------------------------------------------------

let queryImage = null; // {name, base64}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function setQueryImage(file) {
  if (!file || !/^image\/(jpeg|png)$/.test(file.type)) {
    $("#search-note").textContent = `${file ? file.name : "that"} is not a JPEG or PNG image`;
    return;
  }
  queryImage = { name: file.name || "pasted image", base64: await readBase64(file) };
  $("#q-image-name").textContent = queryImage.name;
  $("#q").value = "";
}

function searchScope() {
  const q = {};
  const c = $("#s-collection").value.trim();
  if (c) q.collection = c;
  const f = L.parseFilters($("#s-filters").value);
  if (Object.keys(f).length) q.filters = f;
  q.k = Number($("#s-k").value) || 24;
  return q;
}

async function runSearch(query, what) {
  const note = $("#search-note");
  note.textContent = `searching ${what}…`;
  try {
    const res = await api("POST", "/v1/search", { ...searchScope(), ...query });
    renderHits($("#hits"), res.hits);
    note.textContent = res.hits.length ? `${res.hits.length} scenes for ${what}` : `no matching scenes for ${what}`;
    if (res.note) note.textContent += ` (${res.note})`; // e.g. words only: the model did not answer in time
  } catch (e) {
    note.textContent = e.message;
  }
}

function clipPreview(button, hit, img) {
  let v = null;
  const on = () => {
    if (v) return;
    v = el("video", { src: hit.clip_url, muted: true, loop: true, autoplay: true, playsInline: true, "aria-hidden": "true" });
    button.replaceChildren(v);
    v.play().catch(() => {});
  };
  const off = () => {
    if (!v) return;
    v.pause();
    v = null;
    button.replaceChildren(img);
  };
  button.addEventListener("mouseenter", on);
  button.addEventListener("focus", on);
  button.addEventListener("mouseleave", off);
  button.addEventListener("blur", off);
}

function linesOf(hit) {
  if (!hit.text || !hit.text.length) return null;
  const div = el("div", { class: "lines" });
  for (const line of hit.text) {
    const p = el("div", {}, `@${L.fmtTime(line.t)} `);
    for (const seg of L.markSegments(line.text, line.marks)) p.append(seg.mark ? el("mark", {}, seg.text) : seg.text);
    div.append(p);
  }
  return div;
}

function hitCard(hit) {
  const when = `${L.fmtTime(hit.start)}–${L.fmtTime(hit.end)}`;
  const img = el("img", { src: hit.thumbnail_url, alt: `${hit.filename} at ${when}`, loading: "lazy" });
  const media = el("button", { type: "button", class: "media", "aria-label": `Play ${hit.filename} from ${L.fmtTime(hit.start)}` }, img);
  media.addEventListener("click", () => openPlayer(hit));
  clipPreview(media, hit, img);
  const like = el("button", { type: "button", class: "like" }, "More like this");
  like.addEventListener("click", () => runSearch({ like: { video_id: hit.video_id, t: (hit.start + hit.end) / 2 } }, `scenes like ${hit.filename} at ${when}`));
  return el(
    "li",
    { class: "hit", "data-video": hit.video_id, "data-start": String(hit.start) },
    media,
    el(
      "div",
      { class: "meta" },
      el("span", { class: "score" }, hit.score.toFixed(3)),
      ` · ${(hit.matched || []).join(" + ")}`,
      el("div", {}, `${hit.filename} · ${when}`),
      el("div", {}, hit.collection),
      linesOf(hit),
      like,
    ),
  );
}

function renderHits(list, hits) {
  list.replaceChildren(...hits.map(hitCard));
}

// ---- player ----------------------------------------------------------------

function openPlayer(hit) {
  const d = $("#player");
  const v = $("video", d);
  const start = hit.video_url ? hit.start : 0;
  $("#player-title").textContent = `${hit.filename} from ${L.fmtTime(hit.start)}`;
  $("#player-note").textContent = hit.video_url ? "" : "the source video is gone: playing the scene's clip";
  delete v.dataset.seeked;
  v.dataset.start = String(start);
  v.onloadedmetadata = () => {
    v.currentTime = start;
  };
  v.onseeked = () => {
    if (v.dataset.seeked === undefined) {
      v.dataset.seeked = String(v.currentTime);
      v.play().catch(() => {});
    }
  };
  v.src = hit.video_url || hit.clip_url;
  d.showModal();
}

function closePlayer() {
  const d = $("#player");
  $("video", d).pause();
  d.close();
}

// ---- concepts ----------------------------------------------------------------

let conceptImages = [];
let conceptURLs = [];

async function runConcepts() {
  const body = { concepts: L.parseConcepts($("#c-list").value).map((text) => ({ text })) };
  for (const img of conceptImages) body.concepts.push({ image: img.base64, label: img.name });
  body.threshold = Number($("#c-threshold").value);
  body.best = Number($("#c-best").value);
  const c = $("#c-collection").value.trim();
  if (c) body.collection = c;
  if (body.concepts.length === 0) {
    say("give at least one concept: words, one per line, or example images");
    return;
  }
  say("counting…");
  try {
    const res = await api("POST", "/v1/concepts", body);
    renderBoard(res);
    say(`counted ${res.concepts.length} concepts at threshold ${res.threshold}`);
  } catch (e) {
    say(e.message);
  }
}

function renderBoard(res) {
  const rows = res.concepts.map((c) => {
    const cols = Object.entries(c.by_collection).sort(([a], [b]) => a.localeCompare(b));
    const thumbs = el("div", { class: "thumbs" });
    for (const h of c.best) {
      const b = el("button", { type: "button", "aria-label": `Play ${h.filename} from ${L.fmtTime(h.start)}, score ${h.score.toFixed(3)}` },
        el("img", { src: h.thumbnail_url, alt: "" }));
      b.addEventListener("click", () => openPlayer(h));
      thumbs.append(el("figure", {}, b, el("figcaption", {}, `${h.score.toFixed(3)} · ${L.fmtTime(h.start)}`)));
    }
    return el(
      "tr",
      {},
      el("th", { scope: "row" }, c.label, el("br"), el("small", {}, c.kind), c.note ? el("div", { class: "help" }, c.note) : null),
      el("td", { class: "count" }, el("strong", {}, `${c.capped ? "≥" : ""}${c.count}`), el("br"), el("small", {}, `picture ${c.by_picture} · words ${c.by_words}`)),
      el("td", {}, el("ul", {}, ...cols.map(([k, n]) => el("li", {}, `${k}: ${n}`)))),
      el("td", {}, thumbs),
    );
  });
  $("#board tbody").replaceChildren(...rows);
  $("#board").hidden = false;
  for (const u of conceptURLs) URL.revokeObjectURL(u);
  conceptURLs = [
    URL.createObjectURL(new Blob([L.conceptsCSV(res)], { type: "text/csv" })),
    URL.createObjectURL(new Blob([JSON.stringify(res, null, 2)], { type: "application/json" })),
  ];
  $("#c-csv").href = conceptURLs[0];
  $("#c-json").href = conceptURLs[1];
  $("#c-csv").hidden = $("#c-json").hidden = false;
}

// ---- wiring ----------------------------------------------------------------

async function start() {
  try {
    const resp = await fetch("/_app/config.json");
    if (resp.ok) config = { ...config, ...(await resp.json()) };
  } catch {
    /* defaults: the API is this origin */
  }
  show();
  $("#signin-go").addEventListener("click", () => signIn().catch((e) => say(e.message)));
  $("#signout").addEventListener("click", signOut);
  if (config.auth) {
    try {
      await finishSignIn();
    } catch (e) {
      say(e.message);
    }
    $("#signout").hidden = !token;
    if (!token) showSignin();
  } else {
    $("#signout").hidden = !token;
  }
  $("#files").addEventListener("change", (e) => {
    startUploads([...e.target.files]);
    e.target.value = "";
  });
  dropTarget($("#dropzone"), startUploads);
  $("#refresh").addEventListener("click", refreshLibrary);
  $("#lib-collection").addEventListener("change", refreshLibrary);

  $("#q-image").addEventListener("change", (e) => setQueryImage(e.target.files[0]));
  $("#q").addEventListener("input", () => {
    queryImage = null;
    $("#q-image-name").textContent = "";
  });
  dropTarget($("#search-form"), (files) => setQueryImage(files[0]));
  document.addEventListener("paste", (e) => {
    if ($("#search").hidden) return;
    const f = [...(e.clipboardData?.files || [])].find((x) => x.type.startsWith("image/"));
    if (f) {
      e.preventDefault();
      setQueryImage(f);
    }
  });
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      if (queryImage) runSearch({ image: queryImage.base64 }, `the picture ${queryImage.name}`);
      else if ($("#q").value.trim()) runSearch({ text: $("#q").value.trim() }, `“${$("#q").value.trim()}”`);
      else $("#search-note").textContent = "type words or choose a picture";
    } catch (err) {
      $("#search-note").textContent = err.message;
    }
  });

  $("#c-images").addEventListener("change", async (e) => {
    conceptImages = await Promise.all([...e.target.files].map(async (f) => ({ name: f.name, base64: await readBase64(f) })));
    $("#c-images-names").textContent = conceptImages.map((i) => i.name).join(", ");
  });
  $("#concepts-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runConcepts();
  });

  $("#player-close").addEventListener("click", closePlayer);
  $("#player").addEventListener("close", () => $("#player video").pause());
  if (token || !config.auth) refreshLibrary();
}

start();
