/** The version of ctr. */
export const VERSION = "0.1.0";
