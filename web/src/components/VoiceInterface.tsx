import { useState } from 'react';

interface Props {
  /** Speech recognition (Parakeet) is served: POST /v1/audio/transcriptions. */
  transcription: boolean;
  /** Speech synthesis (Piper) is served: POST /v1/audio/speech. */
  speech: boolean;
  onTranscript: (text: string) => void;
}

export function VoiceInterface({ transcription, speech }: Props) {
  const [open, setOpen] = useState(false);
  return (
    <div className="tool">
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="voice-button">
        Voice
      </button>
      {open ? (
        <div className="popover" role="dialog" aria-label="Voice">
          <h3>Voice</h3>
          <p className="note" data-testid="voice-inactive">
            {transcription
              ? 'Speech input is available.'
              : 'Not active yet: talking to the assistant (push-to-talk and hands-free) becomes available when speech recognition (Parakeet) lands in the engine.'}
          </p>
          <p className="note">
            {speech
              ? 'Spoken replies are available.'
              : 'Spoken replies become available when speech synthesis (Piper voices) lands.'}
          </p>
          <div className="actions">
            <button type="button" disabled={!transcription}>Push to talk</button>
            <button type="button" disabled={!transcription}>Hands-free</button>
            <label className="toggle">
              <input type="checkbox" disabled={!speech} /> Speak replies
            </label>
          </div>
        </div>
      ) : null}
    </div>
  );
}
