/**
 * The one error type of templates.
 * @module
 */

/**
 * A template that cannot be parsed or executed. The message is one line in Go's shape,
 * naming the position: `template: :1:8: executing "" at <.Foo>: map has no entry for key "Foo"`.
 */
export class TemplateError extends Error {
  /** What the template printed before it failed (Go leaves it in the writer). */
  output = "";

  /** Builds the error; `stage` says whether parsing or executing failed. */
  constructor(message: string, readonly stage: "parse" | "execute") {
    super(message);
    this.name = "TemplateError";
  }
}
