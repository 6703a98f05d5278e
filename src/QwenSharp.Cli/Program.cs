namespace QwenSharp.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine("qwen: not yet");
        return 0;
    }
}
