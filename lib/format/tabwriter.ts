/**
 * Go's text/tabwriter (elastic tabstops), which docker's tables go through: cells end in
 * a tab, the tab-terminated cells of consecutive lines form a column as wide as its widest
 * cell plus padding (at least minWidth), and the text after a line's last tab is not part
 * of any column. A line without a tab ends the columns above it, as in Go.
 * @module
 */

/** The settings of Go's tabwriter.NewWriter(out, minwidth, tabwidth, padding, padchar, flags). */
export interface TabWriterOptions {
  /** Smallest width of a column, padding included. */
  minWidth: number;
  /** Width of a tab character when padChar is a tab. */
  tabWidth: number;
  /** Added to the widest cell of a column. */
  padding: number;
  /** What pads cells: a space, or a tab (then columns are aligned to tabWidth). */
  padChar: string;
  /** Right-align cell contents (Go's AlignRight). */
  alignRight?: boolean;
}

/**
 * docker's table settings: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0) in
 * docker/cli cli/command/formatter/formatter.go.
 */
export const DOCKER_TABWRITER: TabWriterOptions = {
  minWidth: 10,
  tabWidth: 1,
  padding: 3,
  padChar: " ",
};

interface Cell {
  text: string;
  width: number;
  htab: boolean;
}

const WIDE: readonly [number, number][] = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe30, 0xfe4f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x3fffd],
];
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f]$/u;

/**
 * The columns a string takes on a terminal: East Asian wide characters take two and
 * combining marks none, as docker's tabwriter measures with go-runewidth (Go's own
 * counts runes; the two agree on ASCII).
 */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ZERO_WIDTH.test(ch)) continue;
    w += WIDE.some(([lo, hi]) => cp >= lo && cp <= hi) ? 2 : 1;
  }
  return w;
}

/** A tabwriter: write text in any pieces, then flush to get the aligned text. */
export class TabWriter {
  private out = "";
  private lines: Cell[][] = [[]];
  private cell = "";
  private widths: number[] = [];

  /** Creates a writer with Go's settings. */
  constructor(private readonly opts: TabWriterOptions = DOCKER_TABWRITER) {}

  /** Adds text; like Go's Write it formats and emits what no later line can change. */
  write(text: string): void {
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (ch !== "\t" && ch !== "\v" && ch !== "\n" && ch !== "\f") continue;
      this.cell += text.slice(start, i);
      start = i + 1;
      const ncells = this.terminateCell(ch === "\t");
      if (ch === "\n" || ch === "\f") {
        this.lines.push([]);
        // A line of one cell cannot change how later lines align: flush, as Go does.
        if (ch === "\f" || ncells === 1) this.flushLines();
      }
    }
    this.cell += text.slice(start);
  }

  /** Formats everything written so far and returns the output not yet returned. */
  flush(): string {
    if (this.cell.length > 0) this.terminateCell(false);
    this.flushLines();
    const out = this.out;
    this.out = "";
    return out;
  }

  private terminateCell(htab: boolean): number {
    const line = this.lines[this.lines.length - 1];
    line.push({ text: this.cell, width: displayWidth(this.cell), htab });
    this.cell = "";
    return line.length;
  }

  private flushLines(): void {
    this.format(0, this.lines.length);
    this.lines = [[]];
    this.widths = [];
  }

  private padding(textw: number, cellw: number): void {
    if (this.opts.padChar === "\t") {
      const tw = this.opts.tabWidth;
      if (tw === 0) return;
      cellw = Math.ceil(cellw / tw) * tw;
      this.out += "\t".repeat(Math.ceil((cellw - textw) / tw));
      return;
    }
    this.out += this.opts.padChar.repeat(Math.max(cellw - textw, 0));
  }

  private writeLines(line0: number, line1: number): void {
    const right = this.opts.alignRight && this.opts.padChar !== "\t";
    for (let i = line0; i < line1; i++) {
      this.lines[i].forEach((c, j) => {
        const w = j < this.widths.length ? this.widths[j] : undefined;
        if (right && w !== undefined) this.padding(c.width, w);
        this.out += c.text;
        if (!right && w !== undefined) this.padding(c.width, w);
      });
      // The last buffered line has no newline yet.
      if (i + 1 < this.lines.length) this.out += "\n";
    }
  }

  /** Go's format: finds the blocks of lines that share a column and sizes each. */
  private format(line0: number, line1: number): void {
    const column = this.widths.length;
    for (let t = line0; t < line1; t++) {
      if (column >= this.lines[t].length - 1) continue;
      this.writeLines(line0, t);
      line0 = t;
      let width = this.opts.minWidth;
      for (; t < line1; t++) {
        const line = this.lines[t];
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column].width + this.opts.padding);
      }
      this.widths.push(width);
      this.format(line0, t);
      this.widths.pop();
      line0 = t;
    }
    this.writeLines(line0, line1);
  }
}

/** Aligns tab-separated text in one call: `tabulate("A\tB\nlonger\tC\n")`. */
export function tabulate(text: string, opts: TabWriterOptions = DOCKER_TABWRITER): string {
  const w = new TabWriter(opts);
  w.write(text);
  return w.flush();
}
