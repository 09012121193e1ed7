// What went wrong, announced to screen readers at once (role=alert); nothing when all is well.
export function ErrorNote({ text }: { text: string | undefined | null }) {
  if (!text) return null;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}
