import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react';
import { frameToDataUrl } from '../lib/images';

interface Props {
  /** The served model takes images (Qwen3-VL). Until then the panel says so and nothing is sent. */
  active: boolean;
  /** Image tokens one frame may take (one token per 32 x 32 pixels). */
  budget: number;
  onFrame: (dataUrl: string) => void;
}

export interface ScreenShareHandle {
  /** A frame of the shared screen when live mode is on (for the message being sent), else null. */
  liveFrame(): string | null;
}

export const ScreenShare = forwardRef<ScreenShareHandle, Props>(function ScreenShare({ active, budget, onFrame }, ref) {
  const [open, setOpen] = useState(false);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [live, setLive] = useState(false);
  const [error, setError] = useState('');
  const videoRef = useRef<HTMLVideoElement>(null);
  const previewRef = useRef<HTMLVideoElement | null>(null);

  useEffect(() => {
    if (videoRef.current) videoRef.current.srcObject = stream;
  }, [stream]);
  useEffect(() => () => stream?.getTracks().forEach((t) => t.stop()), [stream]);

  function capture(): string | null {
    // the thumbnail, or the panel's preview when the thumbnail has not shown a frame yet
    const v = [videoRef.current, previewRef.current].find((x) => x && x.videoWidth > 0);
    if (!v) return null;
    return frameToDataUrl(v, v.videoWidth, v.videoHeight, budget);
  }

  useImperativeHandle(ref, () => ({ liveFrame: () => (live && stream && active ? capture() : null) }));

  async function start() {
    setError('');
    try {
      const s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 5 }, audio: false });
      s.getVideoTracks()[0]?.addEventListener('ended', () => setStream(null));
      setStream(s);
    } catch (e) {
      setError((e as Error).message);
    }
  }

  function stopSharing() {
    stream?.getTracks().forEach((t) => t.stop());
    setStream(null);
    setLive(false);
  }

  return (
    <div className="tool">
      <button
        type="button"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        data-testid="screenshare-button"
        className={stream ? 'live' : undefined}
      >
        {stream ? (live ? '● Screen (live)' : '● Screen') : 'Screen'}
      </button>
      {/* the thumbnail stays while sharing (frames are taken from it, with the panel open or not) */}
      {stream ? (
        <video ref={videoRef} autoPlay muted playsInline className="screen-thumb" data-testid="screen-thumb"
          title="Your screen is shared" onClick={() => setOpen(true)} />
      ) : null}
      {open ? (
        <div className="popover" role="dialog" aria-label="Screen sharing">
          <h3>Screen sharing</h3>
          {!active ? (
            <p className="note" data-testid="screenshare-inactive">
              The model served now reads text only: screen sharing needs a vision model (a Qwen3-VL checkpoint).
            </p>
          ) : null}
          {stream ? (
            <>
              <video
                ref={(el) => {
                  previewRef.current = el;
                  if (el && el.srcObject !== stream) el.srcObject = stream;
                }}
                autoPlay
                muted
                playsInline
                className="preview"
                data-testid="screen-preview"
              />
              <div className="actions">
                <button
                  type="button"
                  className="primary"
                  disabled={!active}
                  data-testid="attach-frame"
                  onClick={() => {
                    const f = capture();
                    if (f) onFrame(f);
                    else setError('no frame yet: the shared screen has not started');
                  }}
                >
                  Attach frame
                </button>
                <label className="toggle" title="Attach a new frame to every message you send">
                  <input
                    type="checkbox"
                    checked={live}
                    disabled={!active}
                    data-testid="screen-live"
                    onChange={(e) => setLive(e.target.checked)}
                  />
                  Live
                </label>
                <button type="button" onClick={stopSharing} data-testid="stop-sharing">
                  Stop sharing
                </button>
              </div>
              <p className="note">
                Frames are scaled to at most {budget} image tokens (Settings).
                {live ? ' Live: each message you send carries the screen as it is then.' : ''}
              </p>
            </>
          ) : (
            <button type="button" disabled={!active} onClick={start} data-testid="start-sharing">
              Share a screen or window
            </button>
          )}
          {error ? <p className="error">{error}</p> : null}
        </div>
      ) : null}
    </div>
  );
});
