#!/bin/sh
# Writes an English text corpus from the documentation a Debian system carries, for
# tools/gen/train_qwen3_fixture.py: English man pages rendered as plain text (sections 1, 2, 4-8, without the
# thousands of near-identical gcloud pages), Vim's help files, GNU info manuals, and the README / Markdown / text
# files under /usr/share/doc, change logs left out and each document cut to its first 200,000 characters.
# Documents are separated by a line holding a single form feed; control characters other than newline and tab are
# dropped. What the corpus holds depends on the packages installed (40 MB, 3512 documents here).
# Usage: tools/gen/make_corpus.sh OUT.txt
set -eu
out=${1:?usage: make_corpus.sh OUT.txt}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=$(nproc 2>/dev/null || echo 2)

# one document per file in $tmp/<kind>/NNNNNN.txt, in sorted order of the sources
mkdir -p "$tmp/man" "$tmp/vim" "$tmp/info" "$tmp/doc"
find /usr/share/man/man[124-8] -type f -name '*.gz' ! -name 'gcloud*' ! -name 'bq*' ! -name 'gsutil*' 2>/dev/null |
    LC_ALL=C sort | awk '{printf "%s\t%s/man/%06d.txt\n", $0, "'"$tmp"'", NR}' >"$tmp/man.list"
tr '\t' '\n' <"$tmp/man.list" |
    xargs -n 2 -P "$jobs" sh -c 'MANWIDTH=80 man -l "$0" 2>/dev/null | col -bx >"$1" || true'

copy_all() { # dir: reads file names, writes dir/NNNNNN.txt (gzip-compressed ones unpacked)
    i=0
    while IFS= read -r f; do
        i=$((i + 1))
        case "$f" in *.gz) zcat "$f" ;; *) cat "$f" ;; esac >"$1/$(printf %06d $i).txt" 2>/dev/null || true
    done
}
find /usr/share/vim -path '*/doc/*.txt' -type f ! -name 'version[0-9]*' 2>/dev/null | LC_ALL=C sort |
    copy_all "$tmp/vim"
find /usr/share/info -type f -name '*.info*' 2>/dev/null | LC_ALL=C sort | copy_all "$tmp/info"
find /usr/share/doc -type f \( -iname 'README*' -o -name '*.md' -o -name '*.txt' -o -name '*.rst' \) -size -2M \
    ! -iname '*changelog*' ! -iname '*changes*' ! -iname '*news*' ! -iname '*history*' 2>/dev/null |
    LC_ALL=C sort | copy_all "$tmp/doc"

python3 - "$tmp" "$out" <<'EOF'
import os, re, sys
root, out = sys.argv[1], sys.argv[2]
ctrl = re.compile(r'[\x00-\x08\x0b-\x1f\x7f]')
n_docs = n_chars = 0
with open(out, 'w', encoding='utf-8') as w:
    for kind in ('man', 'vim', 'info', 'doc'):
        for name in sorted(os.listdir(os.path.join(root, kind))):
            text = open(os.path.join(root, kind, name), 'rb').read().decode('utf-8', 'replace')
            text = ctrl.sub('', text).replace('\ufffd', '')
            text = re.sub(r'[ \t]+\n', '\n', text)
            text = re.sub(r'\n{3,}', '\n\n', text).strip('\n')
            if len(text) > 200000:
                text = text[:text.rfind('\n\n', 0, 200000)]
            if len(text) < 200:
                continue
            w.write(text + '\n\f\n')
            n_docs += 1
            n_chars += len(text)
print('%s: %d documents, %.1f M characters' % (out, n_docs, n_chars / 1e6), file=sys.stderr)
EOF
