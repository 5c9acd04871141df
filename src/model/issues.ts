// Validation issues: what is wrong, and where, down to the line.

/** A path into a resource: ['spec', 'ingress', 0, 'destination', 'ports', 1]. */
export type FieldPath = readonly (string | number)[];

export interface ValidationIssue {
  source: string;
  line: number;
  /** 'spec.cidr', 'spec.ingress[0].destination.ports[1]'; '' for the document itself. */
  path: string;
  message: string;
}

/**
 * Where issues are reported: a file and line, and optionally the line of each
 * field. A ParsedDocument is one.
 */
export interface IssueLocation {
  source: string;
  line: number;
  lineOf?(path: FieldPath): number;
}

/** `pools.yaml:12: spec.cidr: "10.0.0.0/33" is not a valid CIDR` */
export function formatIssue(issue: ValidationIssue): string {
  const where = `${issue.source}:${issue.line}`;
  return issue.path === ''
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.path}: ${issue.message}`;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** ['spec', 'ingress', 0, 'ports'] -> 'spec.ingress[0].ports'; odd keys are quoted. */
export function formatPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

/** Collects issues for one document, turning paths into lines. */
export class IssueSink {
  readonly issues: ValidationIssue[] = [];

  constructor(private readonly location: IssueLocation) {}

  report(path: FieldPath, message: string): void {
    this.issues.push({
      source: this.location.source,
      line: this.location.lineOf?.(path) ?? this.location.line,
      path: formatPath(path),
      message,
    });
  }

  get count(): number {
    return this.issues.length;
  }
}

/** Quotes a value for a message: strings in JSON quotes, the rest as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return value.toString();
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json;
}
