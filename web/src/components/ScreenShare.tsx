import { useEffect, useRef, useState } from 'react';

interface Props {
  /** The served model takes images (Qwen3-VL). Until then the panel says so and nothing is sent. */
  active: boolean;
  onFrame: (dataUrl: string) => void;
}

// One LLM token covers 32x32 pixels: frames are scaled so the long side is at most this many pixels, which keeps
// a shared screen to about a thousand image tokens.
const MAX_SIDE = 1280;

export function ScreenShare({ active, onFrame }: Props) {
  const [open, setOpen] = useState(false);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [error, setError] = useState('');
  const videoRef = useRef<HTMLVideoElement>(null);

  useEffect(() => {
    if (videoRef.current) videoRef.current.srcObject = stream;
    return undefined;
  }, [stream]);
  useEffect(() => () => stream?.getTracks().forEach((t) => t.stop()), [stream]);

  async function start() {
    setError('');
    try {
      const s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
      s.getVideoTracks()[0]?.addEventListener('ended', () => setStream(null));
      setStream(s);
    } catch (e) {
      setError((e as Error).message);
    }
  }

  function capture() {
    const v = videoRef.current;
    if (!v || !v.videoWidth) return;
    const scale = Math.min(1, MAX_SIDE / Math.max(v.videoWidth, v.videoHeight));
    const c = document.createElement('canvas');
    c.width = Math.round(v.videoWidth * scale);
    c.height = Math.round(v.videoHeight * scale);
    c.getContext('2d')?.drawImage(v, 0, 0, c.width, c.height);
    onFrame(c.toDataURL('image/png'));
  }

  return (
    <div className="tool">
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="screenshare-button">
        Screen
      </button>
      {open ? (
        <div className="popover" role="dialog" aria-label="Screen sharing">
          <h3>Screen sharing</h3>
          {!active ? (
            <p className="note" data-testid="screenshare-inactive">
              Not active yet: screen sharing becomes available when vision (Qwen3-VL image input) lands in the
              engine. The model served now reads text only.
            </p>
          ) : null}
          {stream ? (
            <>
              <video ref={videoRef} autoPlay muted playsInline className="preview" />
              <div className="actions">
                <button type="button" className="primary" disabled={!active} onClick={capture}>
                  Attach frame
                </button>
                <button type="button" onClick={() => (stream.getTracks().forEach((t) => t.stop()), setStream(null))}>
                  Stop sharing
                </button>
              </div>
            </>
          ) : (
            <button type="button" disabled={!active} onClick={start}>
              Share a screen or window
            </button>
          )}
          {error ? <p className="error">{error}</p> : null}
        </div>
      ) : null}
    </div>
  );
}
