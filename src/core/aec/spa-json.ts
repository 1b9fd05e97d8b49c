/**
 * A tolerant reader for SPA JSON, the relaxed JSON of PipeWire configuration files and module
 * arguments: bare words as keys and values, `=` or `:` between key and value, commas optional,
 * `#` comments.
 */

export type SpaValue = string | SpaValue[] | { [key: string]: SpaValue };

/** Parses one SPA JSON value (an object when the text is a bare `key = value` list). Never throws. */
export function parseSpaJson(text: string): SpaValue {
  let i = 0;
  const n = text.length;

  function skip(): void {
    while (i < n) {
      const c = text.charAt(i);
      if (c === '#') {
        while (i < n && text[i] !== '\n') i++;
      } else if (/\s|,/.test(c)) {
        i++;
      } else break;
    }
  }

  function word(): string {
    if (text[i] === '"') {
      i++;
      let out = '';
      while (i < n && text[i] !== '"') {
        if (text[i] === '\\' && i + 1 < n) i++;
        out += text[i++];
      }
      i++;
      return out;
    }
    const start = i;
    while (i < n && !/[\s,=:{}[\]"#]/.test(text.charAt(i))) i++;
    // A ':' inside a bare word (e.g. a port name) is part of it when not followed by space.
    while (i < n && text[i] === ':' && i + 1 < n && !/[\s"{[]/.test(text.charAt(i + 1))) {
      i++;
      while (i < n && !/[\s,=:{}[\]"#]/.test(text.charAt(i))) i++;
    }
    return text.slice(start, i);
  }

  function value(): SpaValue {
    skip();
    if (text[i] === '{') {
      i++;
      return members('}');
    }
    if (text[i] === '[') {
      i++;
      const arr: SpaValue[] = [];
      for (;;) {
        skip();
        if (i >= n) return arr;
        if (text[i] === ']') {
          i++;
          return arr;
        }
        const before = i;
        arr.push(value());
        if (i === before) i++;
      }
    }
    return word();
  }

  function members(close: string | null): { [key: string]: SpaValue } {
    const obj: { [key: string]: SpaValue } = {};
    for (;;) {
      skip();
      if (i >= n) return obj;
      if (close !== null && text[i] === close) {
        i++;
        return obj;
      }
      const before = i;
      const key = word();
      skip();
      if (text[i] === '=' || text[i] === ':') i++;
      obj[key] = value();
      if (i === before) i++;
    }
  }

  skip();
  if (text[i] === '{' || text[i] === '[') return value();
  return members(null);
}

/** Follows a path of keys through nested objects; undefined when any is missing. */
export function spaGet(v: SpaValue | undefined, ...path: string[]): SpaValue | undefined {
  let cur = v;
  for (const key of path) {
    if (cur === undefined || typeof cur === 'string' || Array.isArray(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}
