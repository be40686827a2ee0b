/**
 * Go's fmt for template values: Sprint, Sprintln and Sprintf with the verbs and flags
 * (`%v %+v %#v %T %s %q %x %X %d %b %o %O %c %U %e %E %f %F %g %G %t %%`, width,
 * precision, `*`, `[n]`, `+ - # 0 space`), including Go's in-line complaints such as
 * `%!d(string=hi)`, `%!s(MISSING)` and `%!(EXTRA int=1)`.
 * @module
 */

import { formatFloat } from "./_float.ts";
import { kindOf, num, sortedKeys, typeName, utf8 } from "./_value.ts";

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  plusV: boolean;
  sharpV: boolean;
  wid: number;
  widPresent: boolean;
  prec: number;
  precPresent: boolean;
}

function clearFlags(): Flags {
  return {
    plus: false,
    minus: false,
    sharp: false,
    space: false,
    zero: false,
    plusV: false,
    sharpV: false,
    wid: 0,
    widPresent: false,
    prec: 0,
    precPresent: false,
  };
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
export function isPrint(r: number): boolean {
  return r === 0x20 || PRINTABLE.test(String.fromCodePoint(r));
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** Go's strconv.QuoteRune body: one rune escaped for a quote character. */
function escapeRune(r: number, quote: number, ascii: boolean): string {
  if (r === quote || r === 0x5c) return "\\" + String.fromCodePoint(r);
  if (ascii ? r < 0x80 && isPrint(r) : isPrint(r)) return String.fromCodePoint(r);
  switch (r) {
    case 7:
      return "\\a";
    case 8:
      return "\\b";
    case 12:
      return "\\f";
    case 10:
      return "\\n";
    case 13:
      return "\\r";
    case 9:
      return "\\t";
    case 11:
      return "\\v";
  }
  if (r < 0x20 || r === 0x7f) return "\\x" + hex(r, 2);
  if (r >= 0xd800 && r < 0xe000) r = 0xfffd;
  if (r < 0x10000) return "\\u" + hex(r, 4);
  return "\\U" + hex(r, 8);
}

/** Go's strconv.Quote (QuoteToASCII when ascii is set). */
export function quote(s: string, ascii = false): string {
  let out = '"';
  for (const ch of s) out += escapeRune(ch.codePointAt(0)!, 0x22, ascii);
  return out + '"';
}

function quoteRune(r: number, ascii: boolean): string {
  if (r > 0x10ffff || (r >= 0xd800 && r < 0xe000) || r < 0) r = 0xfffd;
  return "'" + escapeRune(r, 0x27, ascii) + "'";
}

function canBackquote(s: string): boolean {
  for (const ch of s) {
    const r = ch.codePointAt(0)!;
    if (r === 0x60 || r === 0xfeff) return false;
    if (r < 0x20 && r !== 9) return false;
    if (r === 0x7f) return false;
  }
  return true;
}

function runeCount(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** One Go fmt printer: its output buffer and the flags of the verb being printed. */
class Printer {
  buf = "";
  f: Flags = clearFlags();
  // What a bad verb names (`%!d(string=x)`): the argument (Go's p.arg) at the top, the
  // element (p.value) inside a slice or map.
  arg: unknown = undefined;
  argSet = false;
  value: unknown = undefined;
  valueSet = false;

  writePadding(n: number): void {
    if (n <= 0) return;
    this.buf += (this.f.zero ? "0" : " ").repeat(n);
  }

  pad(s: string): void {
    if (!this.f.widPresent || this.f.wid === 0) {
      this.buf += s;
      return;
    }
    const width = this.f.wid - runeCount(s);
    if (!this.f.minus) {
      this.writePadding(width);
      this.buf += s;
    } else {
      this.buf += s;
      this.writePadding(width);
    }
  }

  truncate(s: string): string {
    if (!this.f.precPresent) return s;
    let n = this.f.prec;
    let i = 0;
    for (const ch of s) {
      if (--n < 0) return s.slice(0, i);
      i += ch.length;
    }
    return s;
  }

  fmtS(s: string): void {
    this.pad(this.truncate(s));
  }

  fmtQ(s: string): void {
    s = this.truncate(s);
    if (this.f.sharp && canBackquote(s)) this.pad("`" + s + "`");
    else this.pad(quote(s, this.f.plus));
  }

  fmtSx(s: string, upper: boolean): void {
    const b = utf8(s);
    let length = b.length;
    if (this.f.precPresent && this.f.prec < length) length = this.f.prec;
    let width = 2 * length;
    if (width === 0) {
      if (this.f.widPresent) this.writePadding(this.f.wid);
      return;
    }
    if (this.f.space) {
      if (this.f.sharp) width *= 2;
      width += length - 1;
    } else if (this.f.sharp) width += 2;
    if (this.f.widPresent && this.f.wid > width && !this.f.minus) {
      this.writePadding(this.f.wid - width);
    }
    const x = upper ? "0X" : "0x";
    let out = this.f.sharp ? x : "";
    for (let i = 0; i < length; i++) {
      if (this.f.space && i > 0) out += this.f.sharp ? " " + x : " ";
      out += hex(b[i], 2);
    }
    this.buf += upper ? out.toUpperCase() : out;
    if (this.f.widPresent && this.f.wid > width && this.f.minus) {
      this.writePadding(this.f.wid - width);
    }
  }

  fmtInteger(n: number, base: number, verb: string): void {
    const negative = n < 0;
    let digits = Math.abs(n).toString(base);
    if (verb === "X") digits = digits.toUpperCase();
    let prec = 0;
    if (this.f.precPresent) {
      prec = this.f.prec;
      if (prec === 0 && n === 0) {
        const z = this.f.zero;
        this.f.zero = false;
        this.writePadding(this.f.wid);
        this.f.zero = z;
        return;
      }
    } else if (this.f.zero && this.f.widPresent) {
      prec = this.f.wid;
      if (negative || this.f.plus || this.f.space) prec--;
    }
    if (digits.length < prec) digits = "0".repeat(prec - digits.length) + digits;
    if (this.f.sharp) {
      if (base === 2) digits = "0b" + digits;
      else if (base === 8 && digits[0] !== "0") digits = "0" + digits;
      else if (base === 16) digits = (verb === "X" ? "0X" : "0x") + digits;
    }
    if (verb === "O") digits = "0o" + digits;
    if (negative) digits = "-" + digits;
    else if (this.f.plus) digits = "+" + digits;
    else if (this.f.space) digits = " " + digits;
    const z = this.f.zero;
    this.f.zero = false;
    this.pad(digits);
    this.f.zero = z;
  }

  fmtUnicode(n: number): void {
    let prec = 4;
    if (this.f.precPresent && this.f.prec > 4) prec = this.f.prec;
    let s = "U+" + n.toString(16).toUpperCase().padStart(prec, "0");
    if (this.f.sharp && n >= 0 && n <= 0x10ffff && isPrint(n)) {
      s += " '" + String.fromCodePoint(n) + "'";
    }
    const z = this.f.zero;
    this.f.zero = false;
    this.pad(s);
    this.f.zero = z;
  }

  fmtIntegerVerb(n: number, verb: string): void {
    switch (verb) {
      case "v":
      case "d":
        return this.fmtInteger(n, 10, verb);
      case "b":
        return this.fmtInteger(n, 2, verb);
      case "o":
      case "O":
        return this.fmtInteger(n, 8, verb);
      case "x":
      case "X":
        return this.fmtInteger(n, 16, verb);
      case "c": {
        const r = n < 0 || n > 0x10ffff || (n >= 0xd800 && n < 0xe000) ? 0xfffd : n;
        return this.pad(String.fromCodePoint(r));
      }
      case "q":
        return this.pad(quoteRune(n, this.f.plus));
      case "U":
        return this.fmtUnicode(n);
    }
    this.badVerb(verb);
  }

  fmtFloat(x: number, verb: string, defPrec: number): void {
    const prec = this.f.precPresent ? this.f.prec : defPrec;
    const v = verb === "v" ? "g" : verb === "F" ? "f" : verb;
    let s = formatFloat(x, v, prec);
    if (s[0] !== "-" && s[0] !== "+") s = "+" + s;
    if (this.f.space && s[0] === "+" && !this.f.plus) s = " " + s.slice(1);
    if (s[1] === "I" || s[1] === "N") {
      const z = this.f.zero;
      this.f.zero = false;
      if (s[1] === "N" && !this.f.space && !this.f.plus) s = s.slice(1);
      this.pad(s);
      this.f.zero = z;
      return;
    }
    if (this.f.sharp) {
      let digits = 0;
      if (v === "g" || v === "G") digits = prec === -1 ? 6 : prec;
      let tail = "";
      const m = s.match(/[eE][-+]\d+$/);
      if (m) {
        tail = m[0];
        s = s.slice(0, -tail.length);
      }
      let sawNonzero = false;
      for (const c of s.slice(1)) {
        if (c === ".") continue;
        if (c !== "0") sawNonzero = true;
        if (sawNonzero) digits--;
      }
      if (!s.includes(".")) {
        if (s.length === 2 && s[1] === "0") digits--;
        s += ".";
      }
      if (digits > 0) s += "0".repeat(digits);
      s += tail;
    }
    if (this.f.plus || s[0] !== "+") {
      if (this.f.zero && this.f.widPresent && this.f.wid > s.length) {
        this.buf += s[0];
        this.writePadding(this.f.wid - s.length);
        this.buf += s.slice(1);
        return;
      }
      this.pad(s);
      return;
    }
    this.pad(s.slice(1));
  }

  fmtFloatVerb(x: number, verb: string): void {
    switch (verb) {
      case "v":
      case "g":
      case "G":
        return this.fmtFloat(x, verb, -1);
      case "f":
      case "e":
      case "E":
      case "F":
        return this.fmtFloat(x, verb, 6);
    }
    this.badVerb(verb);
  }

  fmtString(s: string, verb: string): void {
    switch (verb) {
      case "v":
        return this.f.sharpV ? this.fmtQ(s) : this.fmtS(s);
      case "s":
        return this.fmtS(s);
      case "x":
        return this.fmtSx(s, false);
      case "X":
        return this.fmtSx(s, true);
      case "q":
        return this.fmtQ(s);
    }
    this.badVerb(verb);
  }

  fmtBool(b: boolean, verb: string): void {
    if (verb === "t" || verb === "v") this.pad(String(b));
    else this.badVerb(verb);
  }

  badVerb(verb: string): void {
    this.buf += "%!" + verb + "(";
    if (this.argSet && this.arg !== null && this.arg !== undefined) {
      this.buf += typeName(this.arg) + "=";
      this.printArg(this.arg, "v");
    } else if (this.valueSet) {
      this.buf += typeName(this.value) + "=";
      this.printValue(this.value, "v", 0);
    } else this.buf += "<nil>";
    this.buf += ")";
  }

  /** One verb of a format: `#` and `+` mean Go syntax and field names for %v. */
  printVerb(arg: unknown, verb: string): void {
    if (verb === "v") {
      this.f.sharpV = this.f.sharp;
      this.f.sharp = false;
      this.f.plusV = this.f.plus;
      this.f.plus = false;
    }
    this.printArg(arg, verb);
  }

  printArg(arg: unknown, verb: string): void {
    this.arg = arg;
    this.argSet = true;
    this.valueSet = false;
    if (arg === null || arg === undefined) {
      if (verb === "T" || verb === "v") this.pad("<nil>");
      else this.badVerb(verb);
      return;
    }
    if (verb === "T") return this.fmtS(typeName(arg));
    this.printScalarOrValue(arg, verb, 0);
  }

  printScalarOrValue(v: unknown, verb: string, depth: number): void {
    switch (kindOf(v)) {
      case "bool":
        return this.fmtBool(v as boolean, verb);
      case "int":
        return this.fmtIntegerVerb(num(v), verb);
      case "float":
        return this.fmtFloatVerb(num(v), verb);
      case "string":
        return this.fmtString(v as string, verb);
      default:
        return this.printValue(v, verb, depth);
    }
  }

  printValue(v: unknown, verb: string, depth: number): void {
    if (depth > 0) {
      this.argSet = false;
      this.value = v;
      this.valueSet = true;
    }
    const kind = kindOf(v);
    if (kind === "nil" || kind === "invalid") {
      this.buf += this.f.sharpV ? "interface {}(nil)" : "<nil>";
      return;
    }
    if (kind === "slice") {
      const a = v as unknown[];
      if (this.f.sharpV) {
        this.buf += "[]interface {}{";
        a.forEach((e, i) => {
          if (i > 0) this.buf += ", ";
          this.printElement(e, verb, depth + 1);
        });
        this.buf += "}";
      } else {
        this.buf += "[";
        a.forEach((e, i) => {
          if (i > 0) this.buf += " ";
          this.printElement(e, verb, depth + 1);
        });
        this.buf += "]";
      }
      return;
    }
    if (kind === "map") {
      const m = v as Record<string, unknown>;
      this.buf += this.f.sharpV ? "map[string]interface {}{" : "map[";
      sortedKeys(m).forEach((k, i) => {
        if (i > 0) this.buf += this.f.sharpV ? ", " : " ";
        this.printElement(k, verb, depth + 1);
        this.buf += ":";
        this.printElement(m[k], verb, depth + 1);
      });
      this.buf += this.f.sharpV ? "}" : "]";
      return;
    }
    this.printScalarOrValue(v, verb, depth);
  }

  /** An element of a slice or map: a nil interface prints `<nil>` whatever the verb. */
  printElement(v: unknown, verb: string, depth: number): void {
    this.argSet = false;
    this.value = v;
    this.valueSet = true;
    if (v === null || v === undefined) {
      this.buf += this.f.sharpV ? "interface {}(nil)" : "<nil>";
      return;
    }
    this.printScalarOrValue(v, verb, depth);
  }
}

/** Go's fmt.Sprint: operands printed with %v, a space between two that are not strings. */
export function sprint(args: readonly unknown[]): string {
  const p = new Printer();
  let prevString = false;
  args.forEach((a, i) => {
    const isString = typeof a === "string";
    if (i > 0 && !isString && !prevString) p.buf += " ";
    p.f = clearFlags();
    p.printArg(a, "v");
    prevString = isString;
  });
  return p.buf;
}

/** Go's fmt.Sprintln: operands printed with %v, always separated by a space, then a newline. */
export function sprintln(args: readonly unknown[]): string {
  const p = new Printer();
  args.forEach((a, i) => {
    if (i > 0) p.buf += " ";
    p.f = clearFlags();
    p.printArg(a, "v");
  });
  return p.buf + "\n";
}

/** Parses a decimal number in the format at i; Go refuses numbers over a million. */
function parseNum(s: string, i: number): { n: number; ok: boolean; i: number } {
  let n = 0;
  let ok = false;
  while (i < s.length && s[i] >= "0" && s[i] <= "9") {
    if (n > 1e6) return { n: 0, ok: false, i: s.length };
    n = n * 10 + Number(s[i]);
    ok = true;
    i++;
  }
  return { n, ok, i };
}

/** Go's fmt.Sprintf. */
export function sprintf(format: string, args: readonly unknown[]): string {
  const p = new Printer();
  let argNum = 0;
  let afterIndex = false;
  let reordered = false;
  let goodArgNum = true;
  const end = format.length;

  /** An argument index `[n]` at i: whether there is one, and where the format goes on. */
  const argNumber = (i: number): { found: boolean; i: number } => {
    if (i >= end || format[i] !== "[") return { found: false, i };
    reordered = true;
    const close = format.indexOf("]", i);
    if (close < 0 || end - i < 3) {
      goodArgNum = false;
      return { found: false, i: i + 1 };
    }
    const r = parseNum(format, i + 1);
    if (!r.ok || r.i !== close) {
      goodArgNum = false;
      return { found: false, i: close + 1 };
    }
    const index = r.n - 1;
    if (index >= 0 && index < args.length) argNum = index;
    else goodArgNum = false;
    return { found: true, i: close + 1 };
  };
  const intFromArg = (): { n: number; ok: boolean } => {
    let n = 0;
    let ok = false;
    if (argNum < args.length) {
      const a = args[argNum];
      if (kindOf(a) === "int") {
        n = num(a);
        ok = true;
      }
      argNum++;
      if (n > 1e6 || n < -1e6) return { n: 0, ok: false };
    }
    return { n, ok };
  };

  let i = 0;
  formatLoop: while (i < end) {
    goodArgNum = true;
    const lasti = i;
    while (i < end && format[i] !== "%") i++;
    if (i > lasti) p.buf += format.slice(lasti, i);
    if (i >= end) break;
    i++;
    p.f = clearFlags();
    simple: for (; i < end; i++) {
      const c = format[i];
      switch (c) {
        case "#":
          p.f.sharp = true;
          break;
        case "0":
          p.f.zero = !p.f.minus;
          break;
        case "+":
          p.f.plus = true;
          break;
        case "-":
          p.f.minus = true;
          p.f.zero = false;
          break;
        case " ":
          p.f.space = true;
          break;
        default:
          if (c >= "a" && c <= "z" && argNum < args.length) {
            p.printVerb(args[argNum], c);
            argNum++;
            i++;
            continue formatLoop;
          }
          break simple;
      }
    }
    ({ found: afterIndex, i } = argNumber(i));
    if (i < end && format[i] === "*") {
      i++;
      const r = intFromArg();
      p.f.wid = r.n;
      p.f.widPresent = r.ok;
      if (!r.ok) p.buf += "%!(BADWIDTH)";
      if (p.f.wid < 0) {
        p.f.wid = -p.f.wid;
        p.f.minus = true;
        p.f.zero = false;
      }
      afterIndex = false;
    } else {
      const r = parseNum(format, i);
      p.f.wid = r.n;
      p.f.widPresent = r.ok;
      i = r.i;
      if (afterIndex && p.f.widPresent) goodArgNum = false;
    }
    if (i + 1 < end && format[i] === ".") {
      i++;
      if (afterIndex) goodArgNum = false;
      ({ found: afterIndex, i } = argNumber(i));
      if (i < end && format[i] === "*") {
        i++;
        const r = intFromArg();
        p.f.prec = r.n;
        p.f.precPresent = r.ok;
        if (p.f.prec < 0) {
          p.f.prec = 0;
          p.f.precPresent = false;
        }
        if (!p.f.precPresent) p.buf += "%!(BADPREC)";
        afterIndex = false;
      } else {
        const r = parseNum(format, i);
        p.f.prec = r.ok ? r.n : 0;
        p.f.precPresent = true;
        i = r.i;
      }
    }
    if (!afterIndex) {
      ({ found: afterIndex, i } = argNumber(i));
    }
    if (i >= end) {
      p.buf += "%!(NOVERB)";
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === "%") p.buf += "%";
    else if (!goodArgNum) p.buf += `%!${verb}(BADINDEX)`;
    else if (argNum >= args.length) p.buf += `%!${verb}(MISSING)`;
    else {
      p.printVerb(args[argNum], verb);
      argNum++;
    }
  }
  if (!reordered && argNum < args.length) {
    p.f = clearFlags();
    p.buf += "%!(EXTRA ";
    args.slice(argNum).forEach((a, k) => {
      if (k > 0) p.buf += ", ";
      if (a === null || a === undefined) p.buf += "<nil>";
      else {
        p.buf += typeName(a) + "=";
        p.printArg(a, "v");
      }
    });
    p.buf += ")";
  }
  return p.buf;
}
