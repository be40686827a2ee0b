/**
 * zod, set up once for every schema of ctr (import this module for its
 * effect, before parsing): without generated code. zod's default compiles a
 * fast parser per object schema on its first use (`new Function`), ~9 ms of
 * a one-shot command such as an OCI `create` that parses one config.json;
 * ctr parses each document once.
 * @module
 */

import { config } from "zod";

config({ jitless: true });
