// Writes the benchmark corpus: licence texts (Debian's /usr/share/common-licenses) interleaved with the random
// Unicode text of the differential test, about SIZE bytes. Usage: node bench/make-corpus.mjs OUT [SIZE] [SEED]
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { rng, randomText } from "../tests/tokenizer-diff/gen.mjs";

const [out, sizeArg, seedArg] = process.argv.slice(2);
const size = Number(sizeArg ?? 4e6), r = rng(Number(seedArg ?? 42));
const dir = "/usr/share/common-licenses";
let licences = [];
try {
  licences = readdirSync(dir).sort().map((f) => { try { return readFileSync(`${dir}/${f}`, "utf8"); } catch { return ""; } })
    .filter((t) => t.length > 0 && !t.includes("\ufffd"));
} catch { /* no licences here: random text only */ }
const parts = [];
let n = 0, k = 0;
while (n < size) {
  const t = licences.length && k % 2 === 0 ? licences[(k / 2) % licences.length] : randomText(r, 20000);
  parts.push(t);
  n += Buffer.byteLength(t);
  k++;
}
writeFileSync(out, parts.join("\n"));
console.log(`${out}: ${(n / 1e6).toFixed(2)} MB, ${licences.length} licence texts`);
