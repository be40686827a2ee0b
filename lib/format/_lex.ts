/**
 * The lexer of Go's text/template: text, `{{` actions `}}` with their trim markers
 * (`{{- ` and ` -}}`), comments, and the tokens inside an action.
 * @module
 */

/** Token types, as text/template/parse names them. */
export type ItemType =
  | "error"
  | "bool"
  | "char"
  | "charConstant"
  | "complex"
  | "assign"
  | "declare"
  | "eof"
  | "field"
  | "identifier"
  | "leftDelim"
  | "leftParen"
  | "number"
  | "pipe"
  | "rawString"
  | "rightDelim"
  | "rightParen"
  | "space"
  | "string"
  | "text"
  | "variable"
  // keywords
  | "block"
  | "break"
  | "continue"
  | "dot"
  | "define"
  | "else"
  | "end"
  | "if"
  | "nil"
  | "range"
  | "template"
  | "with";

/** One token: its type, where it starts (a UTF-16 index) and on which line, and its text. */
export interface Item {
  typ: ItemType;
  pos: number;
  val: string;
  line: number;
}

const KEYWORDS: Record<string, ItemType> = {
  ".": "dot",
  block: "block",
  break: "break",
  continue: "continue",
  define: "define",
  else: "else",
  end: "end",
  if: "if",
  range: "range",
  nil: "nil",
  template: "template",
  with: "with",
};

/** Whether a token type is a keyword (Go prints those as `<end>` in errors). */
export function isKeyword(t: ItemType): boolean {
  return Object.values(KEYWORDS).includes(t);
}

const LEFT = "{{";
const RIGHT = "}}";
const SPACE = " \t\r\n";

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\n";
}

const ALNUM = /^[_\p{L}\p{Nd}]$/u;
function isAlphaNumeric(c: string | undefined): boolean {
  return c !== undefined && ALNUM.test(c);
}

function hasLeftTrimMarker(s: string, i: number): boolean {
  return s[i] === "-" && isSpace(s[i + 1]);
}

function hasRightTrimMarker(s: string, i: number): boolean {
  return isSpace(s[i]) && s[i + 1] === "-";
}

/** Splits a template into tokens; an error token ends the list (as the Go lexer stops). */
export function lex(input: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let line = 1;
  let startLine = 1;
  let parenDepth = 0;

  const count = (a: number, b: number) => {
    let n = 0;
    for (let i = a; i < b; i++) if (input[i] === "\n") n++;
    return n;
  };
  const next = (): string | undefined => {
    if (pos >= input.length) {
      pos = input.length + 1;
      return undefined;
    }
    const c = String.fromCodePoint(input.codePointAt(pos)!);
    pos += c.length;
    if (c === "\n") line++;
    return c;
  };
  const backup = () => {
    if (pos > input.length) {
      pos = input.length;
      return;
    }
    if (pos <= 0) return;
    let w = 1;
    const lo = input.charCodeAt(pos - 1);
    if (lo >= 0xdc00 && lo < 0xe000 && pos >= 2) {
      const hi = input.charCodeAt(pos - 2);
      if (hi >= 0xd800 && hi < 0xdc00) w = 2;
    }
    pos -= w;
    if (input[pos] === "\n") line--;
  };
  const peek = () => {
    const c = next();
    backup();
    return c;
  };
  const emit = (typ: ItemType) => {
    items.push({ typ, pos: start, val: input.slice(start, pos), line: startLine });
    start = pos;
    startLine = line;
  };
  const ignore = () => {
    line += count(start, pos);
    start = pos;
    startLine = line;
  };
  const errorf = (msg: string): null => {
    items.push({ typ: "error", pos: start, val: msg, line: startLine });
    return null;
  };
  const accept = (valid: string) => {
    const c = next();
    if (c !== undefined && valid.includes(c)) return true;
    backup();
    return false;
  };
  const acceptRun = (valid: string) => {
    for (;;) {
      const c = next();
      if (c === undefined || !valid.includes(c)) break;
    }
    backup();
  };
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (hasRightTrimMarker(input, pos) && input.startsWith(RIGHT, pos + 2)) {
      return { delim: true, trim: true };
    }
    return { delim: input.startsWith(RIGHT, pos), trim: false };
  };
  const atTerminator = () => {
    const r = peek();
    if (r === undefined || isSpace(r)) return true;
    if (".,|:)(".includes(r)) return true;
    return input.startsWith(RIGHT, pos);
  };
  const leftTrimLength = (i: number) => {
    let j = i;
    while (j < input.length && SPACE.includes(input[j])) j++;
    return j - i;
  };

  type State = (() => State) | null;

  const lexText = (): State => {
    const x = input.indexOf(LEFT, pos);
    if (x >= 0) {
      pos = x;
      let trim = 0;
      if (hasLeftTrimMarker(input, pos + LEFT.length)) {
        let j = pos;
        while (j > start && SPACE.includes(input[j - 1])) j--;
        trim = pos - j;
      }
      pos -= trim;
      if (pos > start) {
        line += count(start, pos);
        emit("text");
      }
      pos += trim;
      ignore();
      return lexLeftDelim;
    }
    pos = input.length;
    if (pos > start) {
      line += count(start, pos);
      emit("text");
    }
    emit("eof");
    return null;
  };

  const lexLeftDelim = (): State => {
    pos += LEFT.length;
    const trim = hasLeftTrimMarker(input, pos);
    const after = trim ? 2 : 0;
    if (input.startsWith("/*", pos + after)) {
      pos += after;
      ignore();
      return lexComment;
    }
    emit("leftDelim");
    pos += after;
    ignore();
    parenDepth = 0;
    return lexInsideAction;
  };

  const lexComment = (): State => {
    pos += 2;
    const i = input.indexOf("*/", pos);
    if (i < 0) return errorf("unclosed comment");
    pos = i + 2;
    const { delim, trim } = atRightDelim();
    if (!delim) return errorf("comment ends before closing delimiter");
    if (trim) pos += 2;
    pos += RIGHT.length;
    if (trim) pos += leftTrimLength(pos);
    ignore();
    return lexText;
  };

  const lexRightDelim = (): State => {
    const trim = hasRightTrimMarker(input, pos);
    if (trim) {
      pos += 2;
      ignore();
    }
    pos += RIGHT.length;
    emit("rightDelim");
    if (trim) {
      pos += leftTrimLength(pos);
      ignore();
    }
    return lexText;
  };

  const lexInsideAction = (): State => {
    if (atRightDelim().delim) {
      if (parenDepth === 0) return lexRightDelim;
      return errorf("unclosed left paren");
    }
    const r = next();
    if (r === undefined) return errorf("unclosed action");
    if (isSpace(r)) {
      backup();
      return lexSpace;
    }
    switch (r) {
      case "=":
        emit("assign");
        return lexInsideAction;
      case ":":
        if (next() !== "=") return errorf("expected :=");
        emit("declare");
        return lexInsideAction;
      case "|":
        emit("pipe");
        return lexInsideAction;
      case '"':
        return lexQuote;
      case "`":
        return lexRawQuote;
      case "$":
        return lexVariable;
      case "'":
        return lexChar;
      case "(":
        emit("leftParen");
        parenDepth++;
        return lexInsideAction;
      case ")":
        emit("rightParen");
        parenDepth--;
        if (parenDepth < 0) return errorf(`unexpected right paren U+0029 ')'`);
        return lexInsideAction;
    }
    if (r === ".") {
      const c = input[pos];
      if (pos < input.length && (c < "0" || c > "9")) return lexField;
    }
    if (r === "." || r === "+" || r === "-" || (r >= "0" && r <= "9")) {
      backup();
      return lexNumber;
    }
    if (isAlphaNumeric(r)) {
      backup();
      return lexIdentifier;
    }
    const cp = r.codePointAt(0)!;
    if (cp < 0x7f && cp >= 0x20) {
      emit("char");
      return lexInsideAction;
    }
    return errorf(`unrecognized character in action: ${unicodeName(cp)}`);
  };

  const lexSpace = (): State => {
    let n = 0;
    while (isSpace(peek())) {
      next();
      n++;
    }
    if (hasRightTrimMarker(input, pos - 1) && input.startsWith(RIGHT, pos + 1)) {
      backup();
      if (n === 1) return lexRightDelim;
    }
    emit("space");
    return lexInsideAction;
  };

  const lexIdentifier = (): State => {
    for (;;) {
      const r = next();
      if (isAlphaNumeric(r)) continue;
      backup();
      const word = input.slice(start, pos);
      if (!atTerminator()) return errorf(`bad character ${unicodeName(r!.codePointAt(0)!)}`);
      if (KEYWORDS[word] && word !== ".") emit(KEYWORDS[word]);
      else if (word === "true" || word === "false") emit("bool");
      else emit("identifier");
      return lexInsideAction;
    }
  };

  const lexFieldOrVariable = (typ: "field" | "variable"): State => {
    if (atTerminator()) {
      emit(typ === "variable" ? "variable" : "dot");
      return lexInsideAction;
    }
    let r: string | undefined;
    for (;;) {
      r = next();
      if (!isAlphaNumeric(r)) {
        backup();
        break;
      }
    }
    if (!atTerminator()) {
      return errorf(`bad character ${r === undefined ? "EOF" : unicodeName(r.codePointAt(0)!)}`);
    }
    emit(typ);
    return lexInsideAction;
  };
  const lexField = (): State => lexFieldOrVariable("field");
  const lexVariable = (): State => {
    if (atTerminator()) {
      emit("variable");
      return lexInsideAction;
    }
    return lexFieldOrVariable("variable");
  };

  const lexQuoted = (q: string, typ: ItemType, msg: string): State => {
    for (;;) {
      const r = next();
      if (r === "\\") {
        const e = next();
        if (e !== undefined && e !== "\n") continue;
        return errorf(msg);
      }
      if (r === undefined || r === "\n") return errorf(msg);
      if (r === q) break;
    }
    emit(typ);
    return lexInsideAction;
  };
  const lexChar = () => lexQuoted("'", "charConstant", "unterminated character constant");
  const lexQuote = () => lexQuoted('"', "string", "unterminated quoted string");
  const lexRawQuote = (): State => {
    const i = input.indexOf("`", pos);
    if (i < 0) {
      pos = input.length;
      return errorf("unterminated raw quoted string");
    }
    line += count(pos, i + 1);
    pos = i + 1;
    emit("rawString");
    return lexInsideAction;
  };

  const scanNumber = (): boolean => {
    accept("+-");
    let digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    acceptRun(digits);
    if (accept(".")) acceptRun(digits);
    if (digits.length === 11 && accept("eE")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    if (digits.length === 23 && accept("pP")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    accept("i");
    if (isAlphaNumeric(peek())) {
      next();
      return false;
    }
    return true;
  };
  const lexNumber = (): State => {
    if (!scanNumber()) {
      return errorf(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
    }
    const sign = peek();
    if (sign === "+" || sign === "-") {
      if (!scanNumber() || input[pos - 1] !== "i") {
        return errorf(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
      }
      emit("complex");
    } else emit("number");
    return lexInsideAction;
  };

  let state: State = lexText;
  while (state) state = state();
  return items;
}

/** A code point as Go's %#U prints it: U+0041 'A'. */
function unicodeName(cp: number): string {
  const hex = cp.toString(16).toUpperCase().padStart(4, "0");
  return cp >= 0x20 && cp !== 0x7f ? `U+${hex} '${String.fromCodePoint(cp)}'` : `U+${hex}`;
}
