/**
 * The ids of the model-server kinds: one property each, declared by each kind's own file
 * (`declare module './server-kind.ts' { interface ServerKinds { '<kind>': true } }`). A file of its
 * own, importing nothing, so that adapters and process kinds can name a kind without a circle.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, one kind per file
export interface ServerKinds {}
export type ServerKind = keyof ServerKinds;
