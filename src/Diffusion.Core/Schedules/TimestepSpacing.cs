using System.Text.Json.Serialization;

namespace Diffusion.Core.Schedules;

/// <summary>How a sampler picks N of the T training timesteps (Lin et al. 2023, Table 2).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TimestepSpacing>))]
public enum TimestepSpacing
{
    /// <summary>round(linspace(0, T−1, N)): includes both ends.</summary>
    Linspace,
    /// <summary>0, k, 2k, … with k = T / N (DDIM's original choice): never reaches t = T−1.</summary>
    Leading,
    /// <summary>T−1, T−1−k, …: always starts at the last timestep (recommended).</summary>
    Trailing,
}
