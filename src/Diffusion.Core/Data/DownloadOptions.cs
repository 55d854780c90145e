namespace Diffusion.Core.Data;

/// <summary>Whether and from where a loader may download a dataset that is not on disk.</summary>
public sealed record DownloadOptions
{
    private readonly TimeSpan _timeout = TimeSpan.FromSeconds(60);
    private readonly IReadOnlyList<string>? _mirrors;

    /// <summary>Downloading is off: a missing file is an error straight away.</summary>
    public static DownloadOptions Disabled { get; } = new() { Enabled = false };

    /// <summary>Try to download missing files. Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// Base URLs to try in order instead of the dataset's standard mirrors; each file is fetched from
    /// <c>{base}/{file name}.gz</c>. Null (the default) uses the standard mirrors.
    /// </summary>
    /// <exception cref="ArgumentException">A URL is not an absolute http(s) URL.</exception>
    public IReadOnlyList<string>? Mirrors
    {
        get => _mirrors;
        init
        {
            if (value is not null)
                foreach (var url in value)
                    if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps))
                        throw new ArgumentException($"Mirror '{url}' is not an absolute http(s) URL.", nameof(Mirrors));
            _mirrors = value?.ToArray();
        }
    }

    /// <summary>Time allowed for each file from each mirror (connect and transfer). Default 60 s.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not positive.</exception>
    public TimeSpan Timeout
    {
        get => _timeout;
        init => _timeout = value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(nameof(Timeout), value, "The download timeout must be positive.");
    }
}
