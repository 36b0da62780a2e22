using System.Runtime.InteropServices;
using System.Text;

namespace MedClip.Data.Synthetic;

/// <summary>
/// Writes a MIMIC-CXR style free-text report for a study's findings: header lines, then FINDINGS
/// and IMPRESSION (sometimes only one of them), de-identified with "___", wrapped at 78 columns.
/// Each finding is phrased from several variants with synonyms, laterality and severity (or, as
/// many real impressions put it, tersely: "Cardiomegaly.", "Pulmonary edema.", "Right pleural
/// effusion."), and in the voice its <see cref="Mention"/> asks for (stated, negated, or hedged),
/// so a model has to read the sentence, not spot a keyword. Every sentence speaks of one observation, or negates a
/// list of them, so its label can be read from it unambiguously.
/// </summary>
internal static class SyntheticReportWriter
{
    private const int LineWidth = 78;

    public static string Write(SyntheticFindings findings, string viewPosition, char sex, Random rng)
    {
        bool portable = viewPosition == "AP";
        var report = new StringBuilder();
        report.Append(' ', 33).Append("FINAL REPORT\n");
        AppendHeader(report, "EXAMINATION", portable ? "CHEST (PORTABLE AP)" : "CHEST (PA AND LAT)");
        AppendHeader(report, rng.NextDouble() < 0.8 ? "INDICATION" : "HISTORY", Indication(sex, rng));
        if (rng.NextDouble() < 0.5)
            AppendHeader(report, "TECHNIQUE", portable ? "Portable AP chest radiograph." : "Chest PA and lateral.");
        AppendHeader(report, "COMPARISON", Pick(rng, "___", "___.", "None.", "Chest radiograph from ___.", "Prior study of ___."));

        string joiner = rng.NextDouble() < 0.3 ? "  " : " ";
        List<string> findingsSection = FindingsSentences(findings, rng);
        double structure = rng.NextDouble();
        if (structure < 0.7)
        {
            AppendSection(report, "FINDINGS", string.Join(joiner, findingsSection));
            AppendSection(report, "IMPRESSION", Impression(findings, rng));
        }
        else if (structure < 0.9)
        {
            AppendSection(report, "IMPRESSION", string.Join(joiner, findingsSection));
        }
        else
        {
            AppendSection(report, "FINDINGS", string.Join(joiner, findingsSection));
        }
        return report.ToString();
    }

    private static string Indication(char sex, Random rng)
    {
        string complaint = Pick(rng, "shortness of breath", "cough", "fever and cough", "chest pain", "dyspnea on exertion",
            "hypoxia", "fall", "weakness", "tachycardia", "preoperative evaluation", "altered mental status", "sepsis");
        string who = rng.NextDouble() < 0.6 ? $"___{sex} with {complaint}" : $"___-year-old {(sex == 'F' ? "woman" : "man")} with {complaint}.";
        return rng.NextDouble() < 0.5
            ? who + "  // " + Pick(rng, "eval for acute process", "eval for acute cardiopulmonary process", "r/o acute process", "please assess")
            : who;
    }

    /// <summary>A one-paragraph header such as "INDICATION:  ___F with cough", then a blank line.</summary>
    private static void AppendHeader(StringBuilder report, string name, string text)
    {
        AppendWrapped(report, name + ":  " + text);
        report.Append(" \n");
    }

    private static void AppendSection(StringBuilder report, string name, string text)
    {
        report.Append(' ').Append(name).Append(": \n \n");
        AppendWrapped(report, text);
        report.Append(" \n");
    }

    /// <summary>Wraps text to <see cref="LineWidth"/> columns, each line indented by one space as in MIMIC's reports.</summary>
    private static void AppendWrapped(StringBuilder report, string text)
    {
        foreach (string paragraph in text.Split('\n'))
        {
            int column = 0;
            foreach (string word in paragraph.Split(' '))
            {
                if (column > 0 && column + 1 + word.Length > LineWidth)
                {
                    report.Append('\n');
                    column = 0;
                }
                report.Append(' ').Append(word);
                column += 1 + word.Length;
            }
            report.Append('\n');
        }
    }

    /// <summary>Sentences for every mentioned observation; kept in reading order or, for a third of reports, shuffled.</summary>
    private static List<string> FindingsSentences(SyntheticFindings f, Random rng)
    {
        var groups = new List<string>();
        foreach (SupportDevice device in f.SupportDevices)
            groups.Add(DeviceSentence(device, rng));

        var listed = new List<string>();
        bool listNegations = rng.NextDouble() < 0.6;
        if (listNegations)
        {
            if (f.Consolidation.Mention == Mention.Negated && f.Pneumonia.Mention != Mention.Negated)
                listed.Add("focal consolidation");
            if (f.PleuralEffusion.Mention == Mention.Negated)
                listed.Add("pleural effusion");
            if (f.Pneumothorax.Mention == Mention.Negated)
                listed.Add("pneumothorax");
            if (f.Edema.Mention == Mention.Negated)
                listed.Add("pulmonary edema");
            if (listed.Count < 2)
                listed.Clear();
        }

        AddUnlessListed(groups, ConsolidationSentences(f, rng), listed.Contains("focal consolidation"));
        AddUnlessListed(groups, EdemaSentence(f.Edema, rng), listed.Contains("pulmonary edema"));
        Add(groups, AtelectasisSentence(f.Atelectasis, rng));
        Add(groups, LesionSentence(f.LungLesion, f.LesionSizeMm, rng));
        AddUnlessListed(groups, EffusionSentence(f, rng), listed.Contains("pleural effusion"));
        AddUnlessListed(groups, PneumothoraxSentence(f.Pneumothorax, rng), listed.Contains("pneumothorax"));
        if (listed.Count > 0)
            groups.Add(NegatedList(listed, rng));
        Add(groups, HeartSentence(f, rng));
        Add(groups, MediastinumSentence(f, rng));
        if (f.NoFinding && f.LungLesion.Mention == Mention.NotMentioned && rng.NextDouble() < 0.6)
            groups.Add(Pick(rng, "The lungs are clear.", "Lungs are well expanded and clear.", "The lungs are clear bilaterally."));
        if (f.Fracture.Mention == Mention.Negated)
            groups.Add(Pick(rng, "No acute displaced rib fracture.", "No displaced fracture is seen.", "Osseous structures are intact without fracture."));
        else if (rng.NextDouble() < 0.3)
            groups.Add(Pick(rng, "The visualized upper abdomen is unremarkable.", "Osseous structures are unremarkable.",
                "Multilevel degenerative changes of the thoracic spine.", "No free air below the right hemidiaphragm."));

        if (groups.Count == 0)
            groups.Add(Pick(rng, "The lungs are well expanded.", "Lung volumes are normal."));
        if (rng.NextDouble() < 0.35)
            rng.Shuffle(CollectionsMarshal.AsSpan(groups));
        return groups;
    }

    /// <summary>The positive and uncertain findings again, freshly phrased, or a normal impression when there are none; then some of the negatives.</summary>
    private static string Impression(SyntheticFindings f, Random rng)
    {
        var items = new List<string>();
        if (f.Consolidation.Drawn)
            Add(items, ConsolidationSentences(f, rng));
        if (f.Edema.Drawn)
            Add(items, EdemaSentence(f.Edema, rng));
        if (f.Atelectasis.Drawn)
            Add(items, AtelectasisSentence(f.Atelectasis, rng));
        if (f.LungLesion.Drawn)
            Add(items, LesionSentence(f.LungLesion, f.LesionSizeMm, rng));
        if (f.PleuralEffusion.Drawn)
            Add(items, EffusionSentence(f, rng));
        if (f.Pneumothorax.Drawn)
            Add(items, PneumothoraxSentence(f.Pneumothorax, rng));
        if (f.Cardiomegaly.Drawn)
            Add(items, HeartSentence(f, rng));
        if (items.Count == 0)
            items.Add(Pick(rng, "No acute cardiopulmonary process.", "No acute intrathoracic process.",
                "No acute cardiopulmonary abnormality.", "Normal chest radiograph."));
        // Impressions often restate the pertinent negatives.
        if (f.Consolidation.Mention == Mention.Negated && rng.NextDouble() < 0.4)
            Add(items, ConsolidationSentences(f, rng));
        if (f.Edema.Mention == Mention.Negated && rng.NextDouble() < 0.4)
            Add(items, EdemaSentence(f.Edema, rng));
        if (f.PleuralEffusion.Mention == Mention.Negated && rng.NextDouble() < 0.4)
            Add(items, EffusionSentence(f, rng));
        if (f.Pneumothorax.Mention == Mention.Negated && rng.NextDouble() < 0.4)
            Add(items, PneumothoraxSentence(f.Pneumothorax, rng));
        if (f.Cardiomegaly.Mention == Mention.Negated && rng.NextDouble() < 0.3)
            Add(items, HeartSentence(f, rng));
        if (items.Count > 1 && rng.NextDouble() < 0.5)
            return string.Join('\n', items.Select((item, i) => $"{i + 1}. {item}"));
        return string.Join(" ", items);
    }

    private static void Add(List<string> groups, string? sentence)
    {
        if (sentence is not null)
            groups.Add(sentence);
    }

    private static void AddUnlessListed(List<string> groups, string? sentence, bool listed)
    {
        if (!listed)
            Add(groups, sentence);
    }

    private static string NegatedList(List<string> names, Random rng)
    {
        string list = names.Count == 2
            ? $"{names[0]} or {names[1]}"
            : string.Join(", ", names.Take(names.Count - 1)) + ", or " + names[^1];
        return rng.NextDouble() < 0.6 ? $"No {list}." : $"There is no {list}.";
    }

    private static string? EffusionSentence(SyntheticFindings f, Random rng)
    {
        Finding effusion = f.PleuralEffusion;
        string side = SideWord(effusion.Side);
        string size = SizeWord(effusion.Grade);
        return effusion.Mention switch
        {
            Mention.Positive when effusion.Side == Side.Bilateral && f.RightEffusionGrade != f.LeftEffusionGrade => Pick(rng,
                $"{Cap(SizeWord(f.RightEffusionGrade))} right and {SizeWord(f.LeftEffusionGrade)} left pleural effusions.",
                $"Bilateral pleural effusions, {SizeWord(f.RightEffusionGrade)} on the right and {SizeWord(f.LeftEffusionGrade)} on the left."),
            Mention.Positive when effusion.Side == Side.Bilateral => Pick(rng,
                $"{Cap(size)} bilateral pleural effusions.",
                $"Bilateral {size} pleural effusions.",
                "Bilateral pleural effusions.",
                $"{Cap(size)} effusions are seen bilaterally.",
                $"Blunting of both costophrenic angles from {size} bilateral pleural effusions.",
                $"{Cap(size)} amount of fluid in both costophrenic angles, consistent with bilateral effusions."),
            Mention.Positive => Pick(rng,
                $"{Cap(size)} {side} pleural effusion.",
                $"{Cap(side)} pleural effusion.",
                $"There is a {size} {side}-sided pleural effusion.",
                $"{Cap(size)} {side} effusion is present.",
                $"Blunting of the {side} costophrenic angle due to a {size} pleural effusion.",
                $"{Cap(size)} amount of fluid in the {side} costophrenic angle, consistent with pleural effusion.",
                $"Layering {size} {side} pleural fluid."),
            Mention.Uncertain when effusion.Side == Side.Bilateral => Pick(rng,
                "Possible small bilateral pleural effusions.",
                "Small bilateral effusions cannot be excluded.",
                "Blunting of both costophrenic angles may represent small effusions."),
            Mention.Uncertain => Pick(rng,
                $"Possible small {side} pleural effusion.",
                $"Blunting of the {side} costophrenic angle may represent a small effusion.",
                $"A small {side} pleural effusion cannot be excluded.",
                $"Questionable trace {side} pleural effusion."),
            Mention.Negated => Pick(rng, "No pleural effusion.", "There is no pleural effusion.", "No evidence of pleural effusion.", "No effusion."),
            _ => null,
        };
    }

    private static string? PneumothoraxSentence(Finding pneumothorax, Random rng)
    {
        string side = SideWord(pneumothorax.Side);
        string size = SizeWord(pneumothorax.Grade);
        return pneumothorax.Mention switch
        {
            Mention.Positive => Pick(rng,
                $"{Cap(size)} {side} pneumothorax.",
                $"There is a {size} {side} apical pneumothorax.",
                $"{Cap(size)} {side}-sided pneumothorax with a visible visceral pleural line.",
                $"A {size} {side} pneumothorax is present, with absent lung markings laterally."),
            Mention.Uncertain => Pick(rng,
                $"Possible tiny {side} apical pneumothorax.",
                $"A small {side} pneumothorax cannot be excluded.",
                $"Questionable small {side} apical pneumothorax."),
            Mention.Negated => Pick(rng, "No pneumothorax.", "There is no pneumothorax.", "No evidence of pneumothorax."),
            _ => null,
        };
    }

    /// <summary>Consolidation, followed by what it suggests about pneumonia in a sentence of its own.</summary>
    private static string? ConsolidationSentences(SyntheticFindings f, Random rng)
    {
        Finding consolidation = f.Consolidation;
        string lobe = LobeName(consolidation.Lobe);
        string? sentence = consolidation.Mention switch
        {
            Mention.Positive => Pick(rng,
                $"Focal consolidation in the {lobe}.",
                $"Consolidation in the {lobe}.",
                $"{Cap(lobe)} consolidation.",
                $"There is patchy airspace consolidation in the {lobe}.",
                $"Dense opacification of the {lobe}, consistent with consolidation.",
                $"New {lobe} airspace consolidation."),
            Mention.Uncertain => Pick(rng,
                $"Possible early consolidation in the {lobe}.",
                $"Subtle opacity in the {lobe} may represent consolidation.",
                $"Consolidation in the {lobe} cannot be excluded."),
            Mention.Negated when f.Pneumonia.Mention == Mention.Negated => Pick(rng,
                "No focal consolidation to suggest pneumonia.", "There is no consolidation to suggest pneumonia."),
            Mention.Negated => Pick(rng, "No focal consolidation.", "There is no consolidation.", "No focal airspace consolidation."),
            _ => null,
        };
        string? pneumonia = f.Pneumonia.Mention switch
        {
            Mention.Positive => Pick(rng, "Findings are consistent with pneumonia.", "This is compatible with pneumonia."),
            Mention.Uncertain => Pick(rng, "This is concerning for pneumonia.",
                "This may represent pneumonia in the appropriate clinical setting.", "Pneumonia cannot be excluded."),
            _ => null,
        };
        return pneumonia is null ? sentence : sentence + " " + pneumonia;
    }

    private static string? EdemaSentence(Finding edema, Random rng)
    {
        string degree = DegreeWord(edema.Grade);
        return edema.Mention switch
        {
            Mention.Positive => Pick(rng,
                $"{Cap(degree)} pulmonary edema.",
                "Pulmonary edema.",
                $"{Cap(degree)} edema.",
                $"There is {degree} interstitial pulmonary edema.",
                $"Bilateral perihilar opacities consistent with {degree} pulmonary edema.",
                $"Findings are consistent with {degree} pulmonary edema.",
                $"{Cap(degree)} perihilar haziness and vascular indistinctness, compatible with edema.",
                $"Pulmonary edema, {degree}."),
            Mention.Uncertain => Pick(rng,
                "Possible mild pulmonary edema.",
                "Mild perihilar haziness may represent early edema.",
                "Mild interstitial edema cannot be excluded."),
            Mention.Negated => Pick(rng, "No pulmonary edema.", "There is no pulmonary edema.", "No evidence of pulmonary edema.", "No edema."),
            _ => null,
        };
    }

    private static string? AtelectasisSentence(Finding atelectasis, Random rng)
    {
        string side = SideWord(atelectasis.Side);
        string degree = atelectasis.Grade == 0 ? Pick(rng, "mild", "minimal") : "moderate";
        bool both = atelectasis.Side == Side.Bilateral;
        return atelectasis.Mention switch
        {
            Mention.Positive when both => Pick(rng,
                $"{Cap(degree)} bibasilar atelectasis.",
                "Bibasilar atelectasis.",
                "Bibasilar linear opacities consistent with atelectasis.",
                "Plate-like atelectasis at both lung bases."),
            Mention.Positive when atelectasis.Grade == 1 => Pick(rng,
                $"{Cap(side)} lower lobe atelectasis with mild volume loss.",
                $"Moderate {side} basilar atelectasis.",
                $"Plate-like atelectasis in the {side} lower lobe with elevation of the {side} hemidiaphragm."),
            Mention.Positive => Pick(rng,
                $"{Cap(degree)} {side} basilar atelectasis.",
                $"{Cap(side)} basilar atelectasis.",
                $"Linear opacity at the {side} base consistent with subsegmental atelectasis.",
                $"Plate-like atelectasis in the {side} lower lobe.",
                $"Streaky {side} basilar atelectasis."),
            Mention.Uncertain when both => Pick(rng,
                "Bibasilar opacities may represent atelectasis.", "Possible minimal bibasilar atelectasis."),
            Mention.Uncertain => Pick(rng,
                $"{Cap(side)} basilar opacity may represent atelectasis.",
                $"Possible minimal {side} basilar atelectasis.",
                $"Subsegmental atelectasis at the {side} base cannot be excluded."),
            Mention.Negated => Pick(rng, "No atelectasis.", "There is no atelectasis."),
            _ => null,
        };
    }

    private static string? LesionSentence(Finding lesion, int sizeMm, Random rng)
    {
        string lobe = LobeName(lesion.Lobe);
        string centimetres = (sizeMm / 10.0).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        return lesion.Mention switch
        {
            Mention.Positive when sizeMm >= 30 => Pick(rng,
                $"{centimetres} cm mass in the {lobe}.",
                $"A {centimetres} cm mass is seen in the {lobe}; CT is recommended for further evaluation."),
            Mention.Positive => Pick(rng,
                $"{sizeMm} mm nodule in the {lobe}.",
                $"A {sizeMm} mm nodular opacity projects over the {lobe}.",
                $"Rounded {sizeMm} mm nodule in the {lobe}; CT is recommended for further evaluation.",
                $"There is a {centimetres} cm pulmonary nodule in the {lobe}."),
            Mention.Uncertain => Pick(rng,
                $"Possible small nodule in the {lobe}.",
                $"A questionable nodular opacity in the {lobe} may represent a nipple shadow.",
                $"A small nodule in the {lobe} cannot be excluded."),
            Mention.Negated => Pick(rng, "No suspicious pulmonary nodules.", "No focal nodule or mass is seen."),
            _ => null,
        };
    }

    /// <summary>Cardiomegaly, with the enlarged or normal mediastinum folded in when both are said.</summary>
    private static string? HeartSentence(SyntheticFindings f, Random rng)
    {
        Finding heart = f.Cardiomegaly;
        string degree = DegreeWord(heart.Grade);
        string adverb = heart.Grade switch { 0 => "mildly", 1 => "moderately", _ => Pick(rng, "severely", "markedly") };
        return heart.Mention switch
        {
            Mention.Positive => Pick(rng,
                $"{Cap(degree)} cardiomegaly.",
                "Cardiomegaly.",
                $"The heart is {adverb} enlarged.",
                $"{Cap(degree)} enlargement of the cardiac silhouette.",
                $"Heart size is {adverb} enlarged.",
                $"There is {degree} cardiomegaly."),
            Mention.Uncertain => Pick(rng, "Borderline heart size.", "The heart size is borderline enlarged.", "Possible mild cardiomegaly."),
            Mention.Negated when f.EnlargedCardiomediastinum.Mention == Mention.Negated => Pick(rng,
                "Heart size and mediastinal contours are normal.", "The heart size and mediastinal contours are within normal limits."),
            Mention.Negated => Pick(rng,
                "Heart size is normal.", "Normal heart size.", "The heart is not enlarged.", "No cardiomegaly.",
                "The cardiac silhouette is within normal limits."),
            _ => null,
        };
    }

    /// <summary>The mediastinum on its own, unless <see cref="HeartSentence"/> already said it.</summary>
    private static string? MediastinumSentence(SyntheticFindings f, Random rng) => f.EnlargedCardiomediastinum.Mention switch
    {
        Mention.Positive => Pick(rng, "The cardiomediastinal silhouette is enlarged.", "Enlarged cardiomediastinal silhouette."),
        Mention.Negated when f.Cardiomegaly.Mention != Mention.Negated => Pick(rng,
            "The mediastinal and hilar contours are unremarkable.", "Mediastinal contours are normal.", "Normal mediastinal contours."),
        _ => null,
    };

    private static string DeviceSentence(SupportDevice device, Random rng) => device switch
    {
        SupportDevice.EndotrachealTube => Pick(rng,
            $"Endotracheal tube terminates {rng.Next(3, 7)} cm above the carina.", "ET tube in standard position."),
        SupportDevice.Enteric => Pick(rng,
            "Enteric tube courses below the diaphragm with the tip in the stomach.", "Nasogastric tube tip is in the stomach."),
        SupportDevice.JugularLine => Pick(rng,
            "Right internal jugular central venous catheter terminates in the mid SVC.", "Right IJ line tip in the lower SVC."),
        SupportDevice.Picc => Pick(rng,
            "Right-sided PICC terminates in the lower SVC.", "Right upper extremity PICC with tip at the cavoatrial junction."),
        SupportDevice.Pacemaker => Pick(rng,
            "Left-sided pacemaker with leads terminating in the right atrium and right ventricle.",
            "Dual-chamber pacemaker device in the left chest wall with leads in expected position."),
        _ => throw new ArgumentOutOfRangeException(nameof(device), device, null),
    };

    private static string SideWord(Side side) => side switch { Side.Right => "right", Side.Left => "left", _ => "bilateral" };

    private static string SizeWord(int grade) => grade switch { 0 => "small", 1 => "moderate", _ => "large" };

    private static string DegreeWord(int grade) => grade switch { 0 => "mild", 1 => "moderate", _ => "severe" };

    private static string LobeName(Lobe lobe) => lobe switch
    {
        Lobe.RightUpper => "right upper lobe",
        Lobe.RightMiddle => "right middle lobe",
        Lobe.RightLower => "right lower lobe",
        Lobe.LeftUpper => "left upper lobe",
        Lobe.Lingula => "lingula",
        _ => "left lower lobe",
    };

    private static string Cap(string text) => char.ToUpperInvariant(text[0]) + text[1..];

    private static string Pick(Random rng, params string[] options) => options[rng.Next(options.Length)];
}
