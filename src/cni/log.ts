// The plugin's log: JSON lines appended to log_file_path when one is set, at
// log_level or above. Never to stdout (that is the CNI result's), and a log
// that cannot be written is ignored rather than failing the call.

import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogLevel, NetConf } from './config.js';

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3, none: 9 };

export function log(
  conf: Pick<NetConf, 'logLevel' | 'logFilePath' | 'name'>,
  level: Exclude<LogLevel, 'none'>,
  msg: string,
  fields: Record<string, unknown> = {},
): void {
  if (!conf.logFilePath || RANK[level] < RANK[conf.logLevel]) return;
  const line = JSON.stringify({
    time: new Date().toISOString(),
    level,
    network: conf.name,
    msg,
    ...fields,
  });
  try {
    mkdirSync(dirname(conf.logFilePath), { recursive: true });
    appendFileSync(conf.logFilePath, line + '\n');
  } catch {
    /* logging is best effort */
  }
}
