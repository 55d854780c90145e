using System.Text.Json;
using System.Text.Json.Serialization;

namespace Diffusion.Server;

/// <summary>
/// The body of <c>POST /v1/generate</c>: the only type a client's bytes are ever read into (System.Text.Json, unknown
/// fields rejected, numbers only as numbers). Everything else the server builds itself from these plain values.
/// </summary>
public sealed record GenerateBody
{
    /// <summary>The model's name (its folder name, see <c>GET /v1/models</c>); may be left out when one model is served.</summary>
    public string? Model { get; init; }

    /// <summary>Class of every image for a class-conditional model; null draws from the unconditional (null-class) model.</summary>
    public int? Class { get; init; }

    /// <summary>Text prompt for a text-conditioned model; null for the others.</summary>
    public string? Prompt { get; init; }

    /// <summary>Number of images, 1 … <see cref="ServerOptions.MaxCount"/>. Default 1.</summary>
    public int Count { get; init; } = 1;

    /// <summary>Classifier-free guidance scale, 0 … <see cref="ServerOptions.MaxGuidance"/>. Default 3.</summary>
    public double Guidance { get; init; } = 3;

    /// <summary>Sampler registry name (<c>diffusion samplers</c>). Default "ddim".</summary>
    public string Sampler { get; init; } = "ddim";

    /// <summary>Sampling steps (network evaluations for first-order samplers), 1 … <see cref="ServerOptions.MaxSteps"/>. Default 20.</summary>
    public int Steps { get; init; } = 20;

    /// <summary>Seed, ≥ 0; the same seed and settings give the same images. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Also return an animated GIF of the denoising. Default false.</summary>
    public bool Trajectory { get; init; }

    /// <summary>How request bodies are read: web names (camelCase), unknown fields and numbers in strings refused,
    /// shallow documents only.</summary>
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 4,
        AllowTrailingCommas = false,
        ReadCommentHandling = JsonCommentHandling.Disallow,
    };
}
