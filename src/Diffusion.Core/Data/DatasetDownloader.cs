using System.Security.Cryptography;

namespace Diffusion.Core.Data;

/// <summary>
/// Fetches a gzip-compressed dataset file from a list of mirrors, checks the md5 of its uncompressed
/// content, and stores it atomically. Failures are collected, not thrown, so the caller can report
/// one error for everything that went wrong.
/// </summary>
internal static class DatasetDownloader
{
    /// <summary>Tries each mirror in turn; returns null on success, else one line per failed attempt.</summary>
    /// <param name="fileName">The uncompressed file name; "{mirror}/{fileName}.gz" is fetched.</param>
    /// <param name="mirrors">Base URLs, tried in order.</param>
    /// <param name="expectedMd5">md5 (lower-case hex) of the uncompressed content.</param>
    /// <param name="target">Where to store the .gz file.</param>
    /// <param name="timeout">Time allowed per mirror.</param>
    /// <param name="progress">Receives a line per attempt.</param>
    /// <param name="cancellationToken">Cancels the download (throws <see cref="OperationCanceledException"/>).</param>
    public static IReadOnlyList<string>? TryDownload(string fileName, IReadOnlyList<string> mirrors, string expectedMd5,
        string target, TimeSpan timeout, IProgress<string>? progress, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        using var client = new HttpClient { Timeout = timeout };
        foreach (var mirror in mirrors)
        {
            string url = $"{mirror.TrimEnd('/')}/{fileName}.gz";
            progress?.Report($"Downloading {url}");
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                using var response = client.Send(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    failures.Add($"{url}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
                    continue;
                }
                byte[] raw;
                using (var body = response.Content.ReadAsStream(cancellationToken))
                using (var buffer = new MemoryStream())
                {
                    body.CopyTo(buffer);
                    raw = buffer.ToArray();
                }
                string md5 = Md5Hex(IdxReader.Decode(raw, url, cancellationToken));
                if (md5 != expectedMd5)
                {
                    failures.Add($"{url}: content md5 {md5}, expected {expectedMd5}");
                    continue;
                }
                AtomicFile.Write(target, tmp => File.WriteAllBytes(tmp, raw));
                progress?.Report($"Saved {target}");
                return null;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or DiffusionException or NotSupportedException)
            {
                string reason = e is TaskCanceledException ? $"timed out after {timeout.TotalSeconds:0.#} s" : e.Message;
                failures.Add($"{url}: {reason}");
            }
        }
        return failures;
    }

    /// <summary>md5 of <paramref name="content"/> as lower-case hex.</summary>
    public static string Md5Hex(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(MD5.HashData(content));
}
