import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { startDynalite } from '../../local/dynalite';
import {
  compileCommonJs,
  compileKeptParser,
  DYNALITE_PARSERS,
  keepParserFunctions,
} from '../../local/dynalite-parsers';

const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
const parserPath = (relative: string) => fromDynalite.resolve(relative);

/** The parser as published, compiled apart from require's cache (which holds the kept one). */
function compileOriginal(path: string): Parser {
  const compiled = compileCommonJs(path, readFileSync(path, 'utf8'));
  if (compiled === undefined)
    throw new Error('this Node cannot compile a CommonJS source apart from its cache');
  return compiled.exports as Parser;
}

interface Parser {
  parse(input: string, options: { context: Record<string, unknown> }): unknown;
}

/** What dynalite's validations hand a parser: the names and values, and which are still unused. */
function context(names: Record<string, string>, values: Record<string, unknown>) {
  return {
    attrNames: names,
    attrVals: values,
    unusedAttrNames: Object.fromEntries(Object.keys(names).map((k) => [k, true])),
    unusedAttrVals: Object.fromEntries(Object.keys(values).map((k) => [k, true])),
    isReserved: (name: string) => name.toUpperCase() === 'SIZE',
    compare: () => true,
  };
}

/** The parse's result (or the message it threw) and what it left in the context. */
function run(parser: Parser, input: string, names: Record<string, string>, values: Record<string, unknown>) {
  const ctx = context(names, values);
  let result: unknown;
  try {
    result = parser.parse(input, { context: ctx });
  } catch (error) {
    result = { threw: (error as Error).name, message: (error as Error).message };
  }
  return { result, unusedNames: ctx.unusedAttrNames, unusedValues: ctx.unusedAttrVals };
}

const NAMES = { '#pk': 'pk', '#n': 'n', '#exp': 'exp', '#t': 'topics' };
const VALUES = {
  ':one': { N: '1' },
  ':exp': { N: '1790000000' },
  ':uid': { S: 'u-1' },
  ':unused': { S: 'x' },
};

const CASES: ReadonlyArray<readonly [parser: (typeof DYNALITE_PARSERS)[number], input: string]> = [
  ['./db/conditionParser.js', 'attribute_not_exists(#pk)'],
  ['./db/conditionParser.js', '#pk = :uid AND (#n < :one OR NOT #exp = :exp)'],
  ['./db/conditionParser.js', 'size(#t) > :one'],
  ['./db/conditionParser.js', '#pk = '],
  ['./db/conditionParser.js', '#missing = :uid'],
  ['./db/updateParser.js', 'ADD #n :one SET #exp = :exp'],
  ['./db/updateParser.js', 'SET #n = if_not_exists(#n, :one) + :one REMOVE #t'],
  ['./db/updateParser.js', 'SET #n = :nope'],
  ['./db/updateParser.js', 'DELETE'],
  ['./db/projectionParser.js', '#pk, #n, #t[0], #exp.a'],
  ['./db/projectionParser.js', '#pk,,'],
];

describe("dynalite's parsers with their functions kept", () => {
  // First: the comparisons below load nothing into require's cache, but this must see dynalite's own.
  it('is what dynalite loads when the stack starts it', async () => {
    const dynamo = await startDynalite();
    try {
      for (const relative of DYNALITE_PARSERS) {
        const parser = fromDynalite.cache[parserPath(relative)]?.exports as Parser | undefined;
        expect(String(parser?.parse)).toContain('peg$keptFunctions = [');
      }
    } finally {
      await dynamo.stop();
    }
  });

  it.each(DYNALITE_PARSERS)(
    '%s: keeps every function parse declares, and the module stays strict',
    (relative) => {
      const source = readFileSync(parserPath(relative), 'utf8');
      const kept = keepParserFunctions(source);
      if (kept === undefined) throw new Error(`${relative} was not of the expected shape`);
      // "use strict" must stay the module's first statement: only comments may come before it.
      const beforeStrict = kept.slice(0, kept.indexOf('"use strict";'));
      expect(beforeStrict.replace(/\/\*[\s\S]*?\*\//g, '').trim()).toBe('');
      const line = kept.split('\n').find((l) => l.startsWith('  peg$keptFunctions = ['));
      expect(line).toBeDefined();
      const listed = new Set(/\[(.*)\]/.exec(line as string)?.[1]?.split(', '));
      // Every function `parse` declares at its own top level, and its actions.
      const parse = source.slice(source.indexOf('function peg$parse(input, options) {'));
      for (const match of parse.matchAll(/^ {2}function ([\w$]+)\(/gm)) expect(listed).toContain(match[1]);
      for (const match of parse.matchAll(/^ {6}(peg\$c\d+) = function\(/gm))
        expect(listed).toContain(match[1]);
      expect(listed).toContain('peg$parseStart');
      // Only the two lines are added.
      expect(kept.split('\n').length).toBe(source.split('\n').length + 2);
      // Kept once: a source already changed is left alone.
      expect(keepParserFunctions(kept)).toBeUndefined();
    },
  );

  it('leaves a source of another shape alone', () => {
    expect(keepParserFunctions('"use strict";\nmodule.exports = { parse() {} };\n')).toBeUndefined();
    const source = readFileSync(parserPath('./db/conditionParser.js'), 'utf8');
    expect(
      keepParserFunctions(source.replace('peg$result = peg$startRuleFunction();', 'x();')),
    ).toBeUndefined();
  });

  it.each(CASES)(
    '%s parses %j exactly as the original does, errors and context included',
    (relative, input) => {
      const original = compileOriginal(parserPath(relative));
      const kept = compileKeptParser(parserPath(relative))?.exports as Parser | undefined;
      if (kept === undefined) throw new Error(`${relative} was not of the expected shape`);
      expect(kept).not.toBe(original);
      const expected = run(original, input, NAMES, VALUES);
      expect(run(kept, input, NAMES, VALUES)).toEqual(expected);
      // Twice in a row (the functions of the first parse are the ones kept), still the same.
      expect(run(kept, input, NAMES, VALUES)).toEqual(expected);
    },
  );
});
