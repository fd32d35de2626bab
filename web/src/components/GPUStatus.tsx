import type { EngineStatus, Timings } from '../lib/modelClient';
import { formatBytes, formatRate } from '../lib/format';

export function GPUStatus({ status, last }: { status: EngineStatus | null; last: Timings | null }) {
  if (!status) return <div className="gpu-status" data-testid="gpu-status">connecting…</div>;
  return (
    <div className="gpu-status" data-testid="gpu-status" title={status.device}>
      <span className={`dot state-${status.state}`} aria-hidden="true" />
      <span className="item"><b>{status.backend}</b> {status.device}</span>
      <span className="item">mem {formatBytes(status.memory.rss_bytes)}</span>
      <span className="item" data-testid="speed">
        {formatRate(last?.prompt_per_second ?? status.last?.prefill_tokens_per_second)} prefill ·{' '}
        {formatRate(last?.predicted_per_second ?? status.last?.decode_tokens_per_second)} decode
      </span>
    </div>
  );
}
