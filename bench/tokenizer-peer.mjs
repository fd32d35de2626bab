// The peer: @lenml/tokenizers (transformers.js) encoding the same corpus under Node.
// Usage: node bench/tokenizer-peer.mjs MODEL_DIR CORPUS [REPEATS]   (after npm ci in tests/tokenizer-diff)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "tests", "tokenizer-diff", "package.json"));
const { TokenizerLoader } = require("@lenml/tokenizers");

const [dir, corpus, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg ?? 1);
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(`${dir}/tokenizer.json`, "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(`${dir}/tokenizer_config.json`, "utf8")),
});
const text = readFileSync(corpus, "utf8");
const mb = Buffer.byteLength(text) / 1e6;
let best = Infinity, ids = [];
for (let r = 0; r < repeats; r++) {
  const t0 = process.hrtime.bigint();
  ids = tok.encode(text, { add_special_tokens: false });
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, dt);
}
let h = 2166136261;
for (const id of ids) h = Math.imul(h ^ id, 16777619) >>> 0;
console.log(`@lenml/tokenizers encode: ${mb.toFixed(2)} MB in ${best.toFixed(3)} s = ${(mb / best).toFixed(2)} MB/s ` +
  `(best of ${repeats}, node ${process.version}), ${ids.length} ids, #${h.toString(16).padStart(8, "0")}`);
