/**
 * A small bar chart of one measure by day, drawn as inline SVG (no chart library: ~60 lines
 * against tens of KiB). The page's CSP forbids inline styles, so shapes take SVG attributes and
 * classes from the stylesheet. The drawing stretches to the width it is given (viewBox with
 * preserveAspectRatio none; strokes keep their width), so it reads at 375 px; its numbers are
 * HTML text beside it, and the SVG's <title> says the series in words for screen readers.
 */

export interface ChartPoint {
  /** `YYYY-MM-DD`. */
  day: string;
  /** Null: not seen that day (no bar). */
  value: number | null;
}

const WIDTH = 300;
const HEIGHT = 100;

export function DayChart({
  label,
  points,
  limit,
  format,
}: {
  label: string;
  points: ChartPoint[];
  /** The plan's limit, drawn as a line; null where there is none. */
  limit: number | null;
  format: (n: number) => string;
}) {
  const values = points.map((p) => p.value ?? 0);
  const top = Math.max(1, ...values, limit ?? 0) * 1.1;
  const slot = WIDTH / Math.max(1, points.length);
  const y = (v: number) => HEIGHT - (v * HEIGHT) / top;
  const latest = [...points].reverse().find((p) => p.value !== null);
  const first = points[0]?.day ?? "";
  const last = points.at(-1)?.day ?? "";
  const summary = `${label}, ${first} to ${last}: ${
    points
      .filter((p) => p.value !== null)
      .map((p) => `${p.day} ${format(p.value as number)}`)
      .join(", ") || "no data"
  }${limit === null ? "" : `; limit ${format(limit)}`}`;
  return (
    <figure class="chart">
      <figcaption>
        <strong>{label}</strong>: {latest ? format(latest.value as number) : "—"}
        {limit === null ? " (no limit)" : ` of ${format(limit)}`}
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img">
        <title>{summary}</title>
        <line class="axis" x1={0} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} vector-effect="non-scaling-stroke" />
        {points.map((p, i) =>
          p.value === null || p.value === 0 ? null : (
            <rect
              key={p.day}
              class={limit !== null && p.value >= limit ? "bar over" : "bar"}
              x={i * slot + slot * 0.15}
              y={y(p.value)}
              width={slot * 0.7}
              height={HEIGHT - y(p.value)}
            />
          ),
        )}
        {limit !== null && (
          <line
            class="limit"
            x1={0}
            y1={y(limit)}
            x2={WIDTH}
            y2={y(limit)}
            vector-effect="non-scaling-stroke"
          />
        )}
      </svg>
      <p class="chart-axis small muted" aria-hidden="true">
        <span>{first}</span>
        <span>{last}</span>
      </p>
    </figure>
  );
}
