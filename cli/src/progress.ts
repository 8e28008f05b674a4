/** A one-line progress bar on stderr, redrawn at most ten times a second. */
export class ProgressBar {
  private readonly label: string;
  private readonly total: number;
  private readonly started = Date.now();
  private last = 0;

  constructor(label: string, total: number) {
    this.label = label;
    this.total = Math.max(1, total);
  }

  update(done: number): void {
    const now = Date.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const frac = Math.min(1, done / this.total);
    const width = 30;
    const filled = Math.round(frac * width);
    const rate = done / Math.max(0.001, (now - this.started) / 1000);
    process.stderr.write(
      `\r${this.label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${this.total} ${Math.round(rate)}/s`,
    );
  }

  done(): void {
    this.update(this.total);
    process.stderr.write("\n");
  }
}
