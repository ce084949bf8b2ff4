import { writeFileSync } from 'node:fs';
import { SmadProcess } from './smad-process.js';

export interface FleetMember {
  name: string;
  roles: string;
  process: SmadProcess;
}

/**
 * The smad processes of a fault test, by name: started from one base environment (plus
 * per-start extras), killed and restarted by name. Every process ever started is kept, so
 * that a failure can show what each incarnation logged.
 */
export class SmadFleet {
  readonly history: FleetMember[] = [];
  private readonly current = new Map<string, FleetMember>();

  constructor(private readonly baseEnv: Record<string, string>) {}

  /** Starts (or restarts) a named process with these roles; resolves once it logged "smad started". */
  async start(name: string, roles: string, extraEnv: Record<string, string> = {}): Promise<SmadProcess> {
    const running = this.current.get(name);
    if (running && running.process.child.exitCode === null && running.process.child.signalCode === null)
      throw new Error(`${name} is still running`);
    const process = new SmadProcess(['start', '--roles', roles], { ...this.baseEnv, ...extraEnv });
    const member = { name, roles, process };
    this.current.set(name, member);
    this.history.push(member);
    await Promise.race([
      process.started(),
      process.exit.then((exit) => {
        // A process told to kill itself may do so before it logged "started" only if it
        // already worked; anything else is a failure to start.
        if (!process.lines.some((l) => l.msg === 'smad started'))
          throw new Error(
            `${name} exited before starting (${JSON.stringify(exit)}): ${process.stderr.join('')}`,
          );
      }),
    ]);
    return process;
  }

  get(name: string): SmadProcess {
    const member = this.current.get(name);
    if (!member) throw new Error(`no process named ${name}`);
    return member.process;
  }

  names(): string[] {
    return [...this.current.keys()];
  }

  /** Sends a signal to a named process and waits for it to exit. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL') {
    const process = this.get(name);
    process.kill(signal);
    return process.exit;
  }

  /** SIGTERMs every running process at once; resolves with each exit. */
  async terminateAll(): Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null }[]> {
    const members = [...this.current.values()];
    for (const m of members) m.process.kill('SIGTERM');
    return Promise.all(members.map(async (m) => ({ name: m.name, ...(await m.process.exit) })));
  }

  /** Restarts every named process with the roles it last ran, without the extras. */
  async restartAll(): Promise<void> {
    await Promise.all([...this.current.values()].map((m) => this.start(m.name, m.roles)));
  }

  /** Log lines of every incarnation of `name` (or of all) matching a predicate. */
  lines(match: (line: Record<string, unknown>) => boolean, name?: string): Record<string, unknown>[] {
    return this.history
      .filter((m) => name === undefined || m.name === name)
      .flatMap((m) => m.process.lines.filter(match).map((l) => ({ process: m.name, ...l })));
  }

  /** Warnings and errors logged by every incarnation, for failure messages. */
  problems(limit = 40): string {
    return this.lines((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal')
      .slice(-limit)
      .map((l) => JSON.stringify(l).slice(0, 400))
      .join('\n');
  }

  /** Writes every line every incarnation logged to a JSON Lines file (for a closer look). */
  dump(file: string): void {
    const lines = this.history.flatMap((m, n) =>
      m.process.lines.map((l) => JSON.stringify({ process: `${m.name}#${n}`, ...l })),
    );
    writeFileSync(file, `${lines.join('\n')}\n`);
  }

  /** Kills whatever still runs (teardown). */
  async stopAll(): Promise<void> {
    await Promise.all(this.history.map((m) => m.process.stop()));
  }
}
