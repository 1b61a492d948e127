export async function consumeMain(_argv: string[]): Promise<number> { return 2; }
