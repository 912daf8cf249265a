/**
 * Resolves the CloudFormation intrinsic functions a synthesized template uses (`Ref`,
 * `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`, `Fn::ImportValue`) against a
 * caller-supplied {@link ReferenceResolver}: the local stack answers with its own names, ARNs and
 * endpoints. Anything else (`Fn::If`, `Fn::GetAZs`, ...) is refused by name rather than passed
 * through, so a template that starts using one fails loudly at startup.
 */

/** What `Ref` and `Fn::GetAtt` of a resource (or a pseudo parameter) mean locally. */
export interface ReferenceResolver {
  /** `Ref` of a logical id or of a pseudo parameter such as `AWS::Region`. */
  ref(logicalId: string): string;
  /** `Fn::GetAtt` of a resource's attribute. */
  getAtt(logicalId: string, attribute: string): string;
  /** `Fn::ImportValue` of an export name. @default refused */
  importValue?(exportName: string): string;
}

/** A template value that cannot be resolved locally; `code` is stable. */
export class UnresolvableError extends Error {
  override readonly name = 'UnresolvableError';
  readonly code = 'unresolvable_reference';
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function asString(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new UnresolvableError(`${where} resolved to ${JSON.stringify(value)}, not a string`);
}

function intrinsicOf(value: Record<string, unknown>): [string, unknown] | undefined {
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const [key] = keys as [string];
  return key === 'Ref' || key.startsWith('Fn::') ? [key, value[key]] : undefined;
}

/** `${Name}`, `${Name.Attr}` and `${!Literal}` in an `Fn::Sub` string. */
function substitute(text: string, vars: Record<string, unknown>, resolver: ReferenceResolver): string {
  return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    if (name.startsWith('!')) return `\${${name.slice(1)}}`;
    if (name in vars) return asString(resolveValue(vars[name], resolver), `Fn::Sub variable ${name}`);
    const dot = name.indexOf('.');
    if (dot > 0 && !name.startsWith('AWS::')) return resolver.getAtt(name.slice(0, dot), name.slice(dot + 1));
    return resolver.ref(name);
  });
}

/**
 * Resolves every intrinsic inside `value`, recursively; plain values are returned as they are.
 *
 * @example
 * resolveValue({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }]] }, resolver) // 'arn:aws'
 */
export function resolveValue(value: unknown, resolver: ReferenceResolver): Json {
  if (Array.isArray(value)) return value.map((item) => resolveValue(item, resolver));
  if (value === null || typeof value !== 'object') return value as Json;
  const intrinsic = intrinsicOf(value as Record<string, unknown>);
  if (intrinsic === undefined) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [
        key,
        resolveValue(item, resolver),
      ]),
    );
  }
  const [name, arg] = intrinsic;
  switch (name) {
    case 'Ref':
      return resolver.ref(asString(arg, 'Ref'));
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = Array.isArray(arg)
        ? [asString(arg[0], 'Fn::GetAtt'), asString(resolveValue(arg[1], resolver), 'Fn::GetAtt')]
        : (asString(arg, 'Fn::GetAtt').split(/\.(.+)/) as [string, string]);
      return resolver.getAtt(logicalId, attribute);
    }
    case 'Fn::Join': {
      const [separator, items] = arg as [string, unknown];
      const list = resolveValue(items, resolver);
      if (!Array.isArray(list)) throw new UnresolvableError('Fn::Join needs a list');
      return list.map((item) => asString(item, 'Fn::Join item')).join(separator);
    }
    case 'Fn::Sub': {
      const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [arg, {}];
      return substitute(asString(text, 'Fn::Sub'), vars ?? {}, resolver);
    }
    case 'Fn::Select': {
      const [index, items] = arg as [unknown, unknown];
      const list = resolveValue(items, resolver);
      const at = Number(resolveValue(index, resolver));
      if (!Array.isArray(list) || !Number.isInteger(at) || at < 0 || at >= list.length) {
        throw new UnresolvableError(`Fn::Select index ${at} is outside its list`);
      }
      return list[at] as Json;
    }
    case 'Fn::Split': {
      const [separator, source] = arg as [string, unknown];
      return asString(resolveValue(source, resolver), 'Fn::Split source').split(separator);
    }
    case 'Fn::ImportValue': {
      const exportName = asString(resolveValue(arg, resolver), 'Fn::ImportValue');
      if (resolver.importValue === undefined) {
        throw new UnresolvableError(
          `Fn::ImportValue ${exportName}: no other stack's exports are known locally`,
        );
      }
      return resolver.importValue(exportName);
    }
    default:
      throw new UnresolvableError(`${name} is not supported by the local stack`);
  }
}

/** {@link resolveValue} for a value that must come out as a string. */
export function resolveString(value: unknown, resolver: ReferenceResolver, where: string): string {
  return asString(resolveValue(value, resolver), where);
}
