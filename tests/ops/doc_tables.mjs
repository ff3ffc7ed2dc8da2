// Prints the rows of one marked Markdown table of a doc as tab-separated cells
// (header and separator rows left out; "\|" inside a cell becomes "|"; the
// backticks around a whole cell are kept: callers strip what they need).
//   node doc_tables.mjs docs/operator.md directives
// reads the table between <!-- directives:begin --> and <!-- directives:end -->.
import { readFileSync } from 'node:fs';

const [file, name] = process.argv.slice(2);
const text = readFileSync(file, 'utf8');
const begin = text.indexOf(`<!-- ${name}:begin -->`);
const end = text.indexOf(`<!-- ${name}:end -->`);
if (begin < 0 || end < begin) {
  console.error(`doc_tables: no <!-- ${name}:begin/end --> in ${file}`);
  process.exit(2);
}
const rows = text.slice(begin, end).split('\n').filter((l) => l.startsWith('|'));
for (const row of rows.slice(2)) {
  const cells = [];
  let cur = '';
  for (let i = 1; i < row.length; i++) {
    const c = row[i];
    if (c === '\\' && row[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (c === '|') {
      cells.push(cur.trim());
      cur = '';
    } else {
      cur += c;
    }
  }
  console.log(cells.join('\t'));
}
