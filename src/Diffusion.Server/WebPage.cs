using System.Reflection;

namespace Diffusion.Server;

/// <summary>The web page's files, embedded in the assembly (WebPage/*), read once.</summary>
internal static class WebPage
{
    public static readonly IReadOnlyDictionary<string, (byte[] Bytes, string ContentType)> Files = Load();

    private static Dictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(WebPage).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("WebPage/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var file = name["WebPage/".Length..];
            string type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            files[file] = (copy.ToArray(), type);
        }
        return files;
    }
}
