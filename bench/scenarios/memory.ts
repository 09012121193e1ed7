export async function runMemory(o: Record<string, unknown>): Promise<void> {
  console.log('todo', o);
}
