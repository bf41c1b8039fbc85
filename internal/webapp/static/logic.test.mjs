// Unit tests of logic.js: node --test internal/webapp/static/
import test from "node:test";
import assert from "node:assert/strict";
import * as L from "./logic.js";

test("fmtTime", () => {
  for (const [sec, want] of [[0, "0:00.0"], [5.25, "0:05.3"], [65.2, "1:05.2"], [3725.04, "1:02:05.0"], [-1, "–"], [NaN, "–"]]) {
    assert.equal(L.fmtTime(sec), want, `fmtTime(${sec})`);
  }
});

test("fmtBytes", () => {
  assert.equal(L.fmtBytes(512), "512 B");
  assert.equal(L.fmtBytes(1536), "1.5 KB");
  assert.equal(L.fmtBytes(5 * 1024 ** 3), "5.0 GB");
});

test("markSegments: byte ranges over UTF-8", () => {
  // "Große SALE" — ß is two bytes, so SALE is bytes 7..11.
  assert.deepEqual(L.markSegments("Große SALE", [[7, 11]]), [
    { text: "Große ", mark: false },
    { text: "SALE", mark: true },
  ]);
  // Two marks out of order, a bad one skipped, the tail kept.
  assert.deepEqual(L.markSegments("a b c", [[4, 5], [0, 1], [3, 99]]), [
    { text: "a", mark: true },
    { text: " b ", mark: false },
    { text: "c", mark: true },
  ]);
  assert.deepEqual(L.markSegments("no marks", null), [{ text: "no marks", mark: false }]);
  // CJK: each char is 3 bytes.
  assert.deepEqual(L.markSegments("大减价", [[3, 6]]).map((s) => s.text), ["大", "减", "价"]);
});

test("parseFilters", () => {
  assert.deepEqual(L.parseFilters("brand=acme, region = eu ,"), { brand: "acme", region: "eu" });
  assert.deepEqual(L.parseFilters(""), {});
  assert.deepEqual(L.parseFilters("q=a=b"), { q: "a=b" });
  assert.throws(() => L.parseFilters("brand"), /not key=value/);
  assert.throws(() => L.parseFilters("=x"), /not key=value/);
});

test("parseConcepts", () => {
  assert.deepEqual(L.parseConcepts(" crowd celebrating \r\n\nperson dancing\nCrowd Celebrating\n"), ["crowd celebrating", "person dancing"]);
});

test("conceptsCSV quotes and totals", () => {
  const csv = L.conceptsCSV({
    threshold: 0.25,
    concepts: [
      { label: 'say "hi", all', kind: "text", count: 3, capped: false, by_collection: { zeta: 1, ads: 2 } },
      { label: "logo.png", kind: "image", count: 0, by_collection: {} },
    ],
  });
  assert.equal(
    csv,
    [
      "concept,kind,collection,count,capped,threshold",
      '"say ""hi"", all",text,*,3,false,0.25',
      '"say ""hi"", all",text,ads,2,false,0.25',
      '"say ""hi"", all",text,zeta,1,false,0.25',
      "logo.png,image,*,0,false,0.25",
      "",
    ].join("\r\n"),
  );
});

test("progressOf tells the truth", () => {
  assert.deepEqual(L.progressOf({ status: "PROCESSING", stage: "embedding", chunks_done: 3, chunks_total: 12 }), {
    value: 3, max: 12, label: "embedding 3/12 (25%)",
  });
  assert.equal(L.progressOf({ status: "PROCESSING", stage: "chunking", chunks_total: 0 }).max, 0);
  assert.deepEqual(L.progressOf({ status: "READY", chunks_done: 12, chunks_total: 12 }), { value: 1, max: 1, label: "ready · 12 scenes" });
  assert.equal(L.progressOf({ status: "FAILED" }).label, "failed");
  // A delete under way is not progress of its chunks.
  assert.deepEqual(L.progressOf({ status: "DELETING", stage: "deleting", chunks_done: 12, chunks_total: 12 }), { value: 0, max: 0, label: "deleting" });
  assert.ok(L.isFinal("READY") && L.isFinal("FAILED") && !L.isFinal("PROCESSING"));
});

test("pool bounds concurrency and keeps order", async () => {
  let running = 0, peak = 0;
  const out = await L.pool([5, 1, 3, 2, 4], 2, async (x) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, x));
    running--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 10, 30, 20, 40]);
  assert.equal(peak, 2);
});

test("pool stops on the first error", async () => {
  const started = [];
  await assert.rejects(
    L.pool([1, 2, 3, 4, 5], 1, async (x) => {
      started.push(x);
      if (x === 2) throw new Error("part 2 refused");
    }),
    /part 2 refused/,
  );
  assert.deepEqual(started, [1, 2]);
});

test("refusal", () => {
  assert.equal(L.refusal({ name: "a.mp4", size: 10, type: "video/mp4" }), "");
  assert.equal(L.refusal({ name: "party.GIF", size: 10, type: "image/gif" }), "");
  assert.equal(L.refusal({ name: "clip.mkv", size: 10, type: "" }), "");
  assert.match(L.refusal({ name: "notes.txt", size: 10, type: "text/plain" }), /not a video \(text\/plain\)/);
  assert.match(L.refusal({ name: "a.mp4", size: 0, type: "video/mp4" }), /empty/);
});

test("errorMessage", () => {
  assert.equal(L.errorMessage(400, { error: { code: "invalid", message: "filename is required" } }), "filename is required (invalid, HTTP 400)");
  assert.equal(L.errorMessage(502, null), "HTTP 502");
});

test("PKCE: the S256 challenge of RFC 7636's example verifier", async () => {
  assert.equal(await L.challengeOf("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const v = L.newVerifier();
  assert.match(v, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(v, L.newVerifier());
});

test("authorize, token and logout requests", () => {
  const auth = { domain: "https://d.auth.eu-west-1.amazoncognito.com", clientId: "abc", redirect: "https://x.cloudfront.net/" };
  const u = new URL(L.authorizeURL(auth, "CH", "ST"));
  assert.equal(u.origin + u.pathname, "https://d.auth.eu-west-1.amazoncognito.com/oauth2/authorize");
  assert.deepEqual(Object.fromEntries(u.searchParams), {
    response_type: "code", client_id: "abc", redirect_uri: "https://x.cloudfront.net/", scope: "openid email",
    code_challenge: "CH", code_challenge_method: "S256", state: "ST",
  });
  assert.equal(L.tokenRequest(auth, "C0DE", "VER").toString(),
    "grant_type=authorization_code&client_id=abc&code=C0DE&redirect_uri=https%3A%2F%2Fx.cloudfront.net%2F&code_verifier=VER");
  assert.equal(L.logoutURL(auth), "https://d.auth.eu-west-1.amazoncognito.com/logout?client_id=abc&logout_uri=https%3A%2F%2Fx.cloudfront.net%2F");
});

test("modelLine", () => {
  assert.equal(L.modelLine({ model: "scenedex-hsv-hog-v1" }), "Model: scenedex-hsv-hog-v1");
  assert.equal(L.modelLine({ model: "" }), "Model: none recorded yet");
  assert.equal(L.modelLine({ model: "a", switch: { from: "a", to: "b", done: 3, total: 12 } }),
    "Model: a · switching to b: 3/12 scenes re-embedded (25%); search answers with a until all are");
  assert.equal(L.modelLine({ model: "a", switch: { from: "a", to: "b", done: 0, total: 0 } }),
    "Model: a · switching to b: 0/0 scenes re-embedded (0%); search answers with a until all are");
});
