export async function runRestart(o: Record<string, unknown>): Promise<void> {
  console.log('todo', o);
}
