import type { LoadProgress } from '../lib/modelClient';
import { formatBytes } from '../lib/format';

const phases: Record<string, string> = {
  resolve: 'Finding the model',
  download: 'Downloading',
  load: 'Loading weights',
  ready: 'Ready',
  error: 'Failed',
};

export function LoadingProgress({ progress }: { progress: LoadProgress | null }) {
  if (!progress || progress.state === 'ready') return null;
  const pct = progress.total > 0 ? Math.min(100, (100 * progress.done) / progress.total) : null;
  const bytes = progress.phase === 'download';
  return (
    <div className="loading" role="status" data-testid="loading-progress">
      <div className="loading-title">
        {progress.state === 'error' ? 'The model could not be loaded' : phases[progress.phase] ?? progress.phase}
        {progress.file ? <span className="file"> · {progress.file}</span> : null}
      </div>
      {progress.state === 'error' ? (
        <div className="error">{progress.message}</div>
      ) : (
        <>
          <div className="bar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct ?? undefined} role="progressbar">
            <div className={pct === null ? 'fill indeterminate' : 'fill'} style={{ width: `${pct ?? 30}%` }} />
          </div>
          {pct !== null ? (
            <div className="loading-detail">
              {bytes ? `${formatBytes(progress.done)} of ${formatBytes(progress.total)}` : `${progress.done} / ${progress.total}`}{' '}
              ({pct.toFixed(0)}%)
            </div>
          ) : null}
        </>
      )}
    </div>
  );
}
