#!/usr/bin/perl
# Hash- and string-heavy perl workload for scripts/test-real-programs.sh.
# Only core perl (no modules): a private LCG makes the data deterministic and
# every hash is iterated in sorted key order, so the output does not depend
# on perl's hash seed.  Prints checksums computed with unpack("%32C*").
use strict;
use warnings;

my $state = 12345;
sub rnd { my ($n) = @_; $state = ($state * 1103515245 + 12345) % 2147483648; return int($state / 65536) % $n; }
sub ck { my ($s) = @_; return unpack("%32C*", $s) . "/" . length($s); }

my @syll = qw(ka lo mi ne su ta ri po an el or ux zi ba);
my @vocab;
for my $i (0 .. 3999) {
    my $w = join "", map { $syll[rnd(scalar @syll)] } 1 .. (1 + rnd(4));
    push @vocab, $w;
}

# 1. word frequencies, bigrams, nested hashes of arrays
my (%freq, %bigram, %by_len, %first);
my $prev = "";
my @text;
for my $i (1 .. 400_000) {
    my $w = $vocab[int(rnd(1000) * rnd(1000) / 250)];
    push @text, $w;
    $freq{$w}++;
    $bigram{"$prev $w"}++ if $prev ne "";
    push @{ $by_len{ length $w } }, $i if $i % 3 == 0;
    $first{ substr($w, 0, 2) }{$w} //= $i;
    $prev = $w;
}
my @top = (sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq)[0 .. 9];
my @topb = (sort { $bigram{$b} <=> $bigram{$a} || $a cmp $b } keys %bigram)[0 .. 4];
print "freq ", scalar(keys %freq), " ", scalar(keys %bigram), " @top | ", join(",", map { "$_=$bigram{$_}" } @topb), "\n";
print "bylen ", join(" ", map { "$_:" . scalar(@{ $by_len{$_} }) } sort { $a <=> $b } keys %by_len), "\n";
my $fsum = 0;
for my $p (sort keys %first) { $fsum += $first{$p}{$_} for sort keys %{ $first{$p} }; }
print "first ", scalar(keys %first), " $fsum\n";

# 2. string building, regexes, substitutions, split/join, sprintf
my $doc = "";
for my $i (0 .. $#text) {
    $doc .= $text[$i];
    $doc .= ($i % 13 == 12) ? sprintf(". [%05d] user%d\@host%d.example\n", $i, $i % 97, $i % 7) : " ";
}
my @lines = split /\n/, $doc;
my %hosts;
$hosts{$2}++ while $doc =~ /user(\d+)\@(host\d+)\.example/g;
(my $upper = $doc) =~ s/\b(\w)(\w*)/\U$1\E$2/g;
my $n_sub = ($upper =~ s/\[(\d+)\]/<$1>/g);
my @rev = map { scalar reverse $_ } @lines[0 .. 5000];
my $joined = join "|", sort @rev;
print "text ", scalar(@lines), " ", ck($doc), " ", ck($upper), " $n_sub ", ck($joined), " ",
    join(",", map { "$_=$hosts{$_}" } sort keys %hosts), "\n";

# 3. records: array of hashes, sort by several keys, grouping, deletion
my @rec;
for my $i (1 .. 120_000) {
    push @rec, { id => $i, grp => "g" . rnd(300), score => rnd(100_000) / 100, name => $vocab[rnd(scalar @vocab)] x (1 + $i % 3) };
}
my @sorted = sort { $a->{grp} cmp $b->{grp} || $b->{score} <=> $a->{score} || $a->{id} <=> $b->{id} } @rec;
my %group;
for my $r (@sorted) {
    my $g = $group{ $r->{grp} } //= { n => 0, sum => 0, names => {} };
    $g->{n}++;
    $g->{sum} += $r->{score};
    $g->{names}{ $r->{name} } = 1;
}
for my $k (keys %group) { delete $group{$k} if $group{$k}{n} < 390; }
my $gsum = 0;
$gsum += $group{$_}{sum} + scalar(keys %{ $group{$_}{names} }) for sort keys %group;
@rec = grep { $_->{id} % 4 } @rec;
print "records ", scalar(@rec), " ", scalar(keys %group), " ", sprintf("%.2f", $gsum), " ",
    join(",", map { $_->{id} } @sorted[0 .. 4]), "\n";

# 4. churn: a hash used as a cache with constant insert/delete
my %cache;
my $hits = 0;
for my $i (1 .. 300_000) {
    my $k = "k" . rnd(20_000);
    if (exists $cache{$k}) { $hits++; delete $cache{$k} if $i % 3 == 0; }
    else { $cache{$k} = [ $i, "v" x (1 + $i % 40) ]; }
}
my $clen = 0;
$clen += length($cache{$_}[1]) for sort keys %cache;
print "cache ", scalar(keys %cache), " $hits $clen\n";
print "done\n";
