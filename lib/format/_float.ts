/**
 * Go's float formatting (strconv.FormatFloat with 'e', 'f' and 'g'): the shortest digits
 * that read back as the same float64 for `%v`, and exact decimal rounding, half to even,
 * for an explicit precision (`%.2f` of 0.125 is "0.12" in Go, not JavaScript's "0.13").
 * @module
 */

/** Decimal digits without leading or trailing zeros; the value is 0.d × 10^dp. */
interface Decimal {
  d: string;
  dp: number;
}

/** The exact decimal value of a positive finite float64 (every binary fraction ends in base 10). */
function exactDecimal(x: number): Decimal {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  let exp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  if (exp === 0) exp = 1;
  else mant |= 1n << 52n;
  exp -= 1075;
  let digits: string;
  let dp: number;
  if (exp >= 0) {
    digits = (mant << BigInt(exp)).toString();
    dp = digits.length;
  } else {
    digits = (mant * 5n ** BigInt(-exp)).toString();
    dp = digits.length + exp;
  }
  return { d: digits.replace(/0+$/, ""), dp };
}

/** The shortest digits that identify a positive finite float64 (JavaScript and Go agree). */
function shortestDecimal(x: number): Decimal {
  const [m, e] = x.toExponential().split("e");
  return { d: m.replace(".", "").replace(/0+$/, ""), dp: Number(e) + 1 };
}

/** Rounds to nd digits, half to even when exactly halfway, as Go's decimal.Round. */
function round(a: Decimal, nd: number): Decimal {
  if (nd < 0 || nd >= a.d.length) return a;
  const halfway = a.d[nd] === "5" && nd + 1 === a.d.length;
  const up = halfway ? nd > 0 && Number(a.d[nd - 1]) % 2 === 1 : a.d[nd] >= "5";
  if (!up) {
    const d = a.d.slice(0, nd).replace(/0+$/, "");
    return { d, dp: d ? a.dp : 0 };
  }
  let i = nd - 1;
  while (i >= 0 && a.d[i] === "9") i--;
  if (i < 0) return { d: "1", dp: a.dp + 1 };
  return { d: a.d.slice(0, i) + String(Number(a.d[i]) + 1), dp: a.dp };
}

function digitAt(a: Decimal, i: number): string {
  return i >= 0 && i < a.d.length ? a.d[i] : "0";
}

function fmtE(a: Decimal, prec: number, e: string): string {
  let s = a.d.length ? a.d[0] : "0";
  if (prec > 0) {
    s += ".";
    for (let i = 1; i <= prec; i++) s += digitAt(a, i);
  }
  let exp = a.d.length ? a.dp - 1 : 0;
  const sign = exp < 0 ? "-" : "+";
  exp = Math.abs(exp);
  return `${s}${e}${sign}${exp < 10 ? "0" : ""}${exp}`;
}

function fmtF(a: Decimal, prec: number): string {
  let s = "";
  if (a.dp > 0) { for (let i = 0; i < a.dp; i++) s += digitAt(a, i); }
  else s = "0";
  if (prec > 0) {
    s += ".";
    for (let i = 0; i < prec; i++) s += digitAt(a, a.dp + i);
  }
  return s;
}

/**
 * Formats a float64 as Go's strconv.FormatFloat(x, verb, prec, 64) for verb e, E, f, g
 * or G; prec -1 asks for the shortest representation.
 */
export function formatFloat(x: number, verb: string, prec: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  const neg = x < 0 || Object.is(x, -0);
  const abs = Math.abs(x);
  const shortest = prec < 0;
  let d: Decimal;
  const lower = verb.toLowerCase();
  if (abs === 0) d = { d: "", dp: 0 };
  else if (shortest) d = shortestDecimal(abs);
  else {
    d = exactDecimal(abs);
    if (lower === "e") d = round(d, prec + 1);
    else if (lower === "f") d = round(d, d.dp + prec);
    else d = round(d, prec === 0 ? 1 : prec);
  }
  if (shortest) {
    if (lower === "e") prec = Math.max(d.d.length - 1, 0);
    else if (lower === "f") prec = Math.max(d.d.length - d.dp, 0);
    else prec = d.d.length;
  } else if (lower === "g" && prec === 0) prec = 1;
  let s: string;
  if (lower === "e") s = fmtE(d, prec, verb);
  else if (lower === "f") s = fmtF(d, prec);
  else {
    let eprec = prec;
    if (eprec > d.d.length && d.d.length >= d.dp) eprec = d.d.length;
    if (shortest) eprec = 6;
    const exp = d.dp - 1;
    if (exp < -4 || exp >= eprec) {
      s = fmtE(d, Math.min(prec, d.d.length) - 1, verb === "G" ? "E" : "e");
    } else {
      s = fmtF(d, Math.max((prec > d.dp ? d.d.length : prec) - d.dp, 0));
    }
  }
  return (neg ? "-" : "") + s;
}
