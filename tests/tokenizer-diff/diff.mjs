// Differential test: qwglm's tokenizer against @lenml/tokenizers (transformers.js) on random Unicode text.
// Usage: node diff.mjs QWGLM_BINARY MODEL_DIR [SEED] [N_STRINGS]
// Encodes N random strings (plus a few long ones) with both and compares the ids; decodes qwglm's ids with both
// and compares the text. Prints "N passed, M failed" and exits 1 on any difference.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { TokenizerLoader } from "@lenml/tokenizers";
import { rng, randomText } from "./gen.mjs";

const [bin, dir, seedArg, countArg] = process.argv.slice(2);
if (!bin || !dir) {
  console.error("usage: node diff.mjs QWGLM_BINARY MODEL_DIR [SEED] [N_STRINGS]");
  process.exit(2);
}
const seed = Number(seedArg ?? 1), count = Number(countArg ?? 2000);
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
});

const r = rng(seed);
const texts = [];
for (let i = 0; i < count; i++) texts.push(randomText(r, 1 + Math.floor(r() * (i % 10 === 0 ? 4000 : 300))));
for (let i = 0; i < 3; i++) texts.push(randomText(r, 100000));

function run(args, input) {
  const p = spawnSync(bin, args, { input, maxBuffer: 1 << 30, encoding: "utf8" });
  if (p.status !== 0) {
    console.error(`qwglm ${args.join(" ")} failed (${p.status}): ${p.stderr}`);
    process.exit(1);
  }
  return p.stdout.split("\n").filter((l) => l.length).map((l) => JSON.parse(l));
}

const ours = run(["tokenize", "-m", dir], texts.map((t) => JSON.stringify(t)).join("\n") + "\n");
const decoded = run(["tokenize", "-m", dir, "--decode"], ours.map((ids) => JSON.stringify(ids)).join("\n") + "\n");
let passed = 0, failed = 0, bytes = 0;
for (let i = 0; i < texts.length; i++) {
  bytes += Buffer.byteLength(texts[i]);
  const want = tok.encode(texts[i], { add_special_tokens: false });
  const got = ours[i];
  const same = got.length === want.length && got.every((v, k) => v === want[k]);
  const text = tok.decode(got, { skip_special_tokens: false });
  const sameText = text === decoded[i]; /* not NFC(text): added tokens are cut out before normalizing */
  if (same && sameText) { passed++; continue; }
  failed++;
  if (failed <= 5) {
    let k = 0;
    while (k < got.length && got[k] === want[k]) k++;
    const ctx = (ids) => JSON.stringify(ids.slice(Math.max(0, k - 3), k + 5));
    console.error(`case ${i}: ${same ? "decode" : "encode"} differs at id ${k}: ours ${ctx(got)} peer ${ctx(want)}`);
    console.error(`  text near it: ${JSON.stringify(tok.decode(want.slice(Math.max(0, k - 3), k + 5)))}`);
    if (!sameText) console.error(`  decoded: ours ${JSON.stringify(decoded[i].slice(0, 80))} peer ${JSON.stringify(text.slice(0, 80))}`);
  }
}
console.log(`tokenizer-diff: seed ${seed}, ${texts.length} strings, ${(bytes / 1e6).toFixed(2)} MB`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
