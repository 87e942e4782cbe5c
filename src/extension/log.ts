/** The "FDR Monitor" output channel, and a copy in FDR_MONITOR_LOG_FILE when set (tests, bug reports). */
import * as fs from 'node:fs';
import * as vscode from 'vscode';

export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('FDR Monitor');

  line(line: string): void {
    const text = `[${new Date().toISOString().slice(11, 23)}] ${line}`;
    this.channel.appendLine(text);
    const file = process.env.FDR_MONITOR_LOG_FILE;
    if (file) fs.appendFile(file, text + '\n', () => undefined);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
